//! `ping`: an ICMP echo from an unprivileged ping socket (SOCK_DGRAM).
//!
//! Ping sockets are only allowed for groups in `net.ipv4.ping_group_range`.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use super::deadline::Deadline;
use super::outcome::{During, Outcome};

/// Sends one echo request to `addr` and waits for the echo reply; the reply
/// text is `echo reply from <addr>`.
pub fn ping(addr: IpAddr, timeout_ms: u64) -> Outcome {
    let deadline = Deadline::after_ms(timeout_ms);
    let (domain, protocol, request_type, reply_type) = match addr {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8, 0),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128, 129),
    };
    let mut socket = Socket::new(domain, Type::DGRAM, Some(protocol)).during("socket")?;
    socket
        .connect(&SocketAddr::new(addr, 0).into())
        .during("connect")?;
    // Type, code, checksum, identifier, sequence 1, payload. The kernel fills
    // in the checksum and the identifier (it matches replies by it).
    let request = [
        request_type,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        b'p',
        b'r',
        b'o',
        b'b',
        b'e',
    ];
    socket.send(&request).during("send")?;
    let mut reply = [0u8; 1500];
    loop {
        socket
            .set_read_timeout(Some(deadline.remaining()?))
            .during("setsockopt")?;
        let n = socket.read(&mut reply).during("recv")?;
        if n >= 8 && reply[0] == reply_type {
            return Ok(Some(format!("echo reply from {addr}")));
        }
    }
}
