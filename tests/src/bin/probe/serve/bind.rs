//! Creating the servers' sockets.

use std::net::{SocketAddr, TcpListener, UdpSocket};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

/// A listening TCP socket on `addr`.
pub fn tcp(addr: SocketAddr) -> Result<TcpListener> {
    let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
    // Lets a restarted server bind while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    bound(&socket, addr, "tcp")?;
    socket
        .listen(128)
        .with_context(|| format!("listen on tcp {addr}"))?;
    Ok(socket.into())
}

/// A UDP socket on `addr`.
pub fn udp(addr: SocketAddr) -> Result<UdpSocket> {
    let socket = socket(addr, Type::DGRAM, Protocol::UDP)?;
    bound(&socket, addr, "udp")?;
    Ok(socket.into())
}

fn socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    if addr.is_ipv6() {
        // `::` must not take IPv4 too: the 0.0.0.0 socket serves that.
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

fn bound(socket: &Socket, addr: SocketAddr, what: &str) -> Result<()> {
    socket
        .bind(&addr.into())
        .with_context(|| format!("bind {what} {addr}"))
}
