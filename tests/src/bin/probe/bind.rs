//! `bind`: may this process take a local port?

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

use super::outcome::{During, Outcome};

/// Binds a UDP socket (a listening TCP one with `tcp`) to `addr`:`port` and closes it.
pub fn bind(addr: IpAddr, port: u16, tcp: bool) -> Outcome {
    let local = SocketAddr::new(addr, port);
    if tcp {
        TcpListener::bind(local).during("bind").map(drop)?;
    } else {
        UdpSocket::bind(local).during("bind").map(drop)?;
    }
    Ok(None)
}
