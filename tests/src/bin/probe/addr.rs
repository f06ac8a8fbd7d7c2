//! Choosing the destination address, and with it the socket family.

use std::net::{IpAddr, SocketAddr};

/// `addr`:`port`, except that with `v6_socket` an IPv4 address becomes its
/// IPv4-mapped form `::ffff:a.b.c.d`, so it is sent from an AF_INET6 socket
/// (an escape route a v4-only policy might miss).
pub fn destination(addr: IpAddr, port: u16, v6_socket: bool) -> SocketAddr {
    match addr {
        IpAddr::V4(v4) if v6_socket => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port),
        _ => SocketAddr::new(addr, port),
    }
}
