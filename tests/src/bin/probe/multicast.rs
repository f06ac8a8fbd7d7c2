//! `mcast-join`: join a multicast group, which makes the kernel announce it on the link
//! (IGMP, MLD) from its own timers.

use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::outcome::{During, Outcome};

/// Joins `group` on interface `ifindex` from a UDP socket, through the family's own option
/// (IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP) or, with `mcast_api`, MCAST_JOIN_GROUP. Exiting
/// leaves the group.
pub fn join(group: IpAddr, ifindex: u32, mcast_api: bool) -> Outcome {
    let socket = Socket::new(
        Domain::for_address(SocketAddr::new(group, 0)),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .during("socket")?;
    match group {
        _ if mcast_api => mcast_join_group(&socket, group, ifindex),
        IpAddr::V4(g) => socket.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex)),
        IpAddr::V6(g) => socket.join_multicast_v6(&g, ifindex),
    }
    .during("setsockopt")?;
    Ok(Some("joined".to_owned()))
}

/// setsockopt(MCAST_JOIN_GROUP) at the group's level (socket2 has no call for it).
fn mcast_join_group(socket: &Socket, group: IpAddr, ifindex: u32) -> std::io::Result<()> {
    let level = match group {
        IpAddr::V4(_) => libc::SOL_IP,
        IpAddr::V6(_) => libc::SOL_IPV6,
    };
    // SAFETY: all-zero is a valid group_req.
    let mut request: libc::group_req = unsafe { std::mem::zeroed() };
    request.gr_interface = ifindex;
    let addr = SockAddr::from(SocketAddr::new(group, 0));
    // SAFETY: a sockaddr_in or sockaddr_in6, copied into the sockaddr_storage it fits in.
    unsafe {
        std::ptr::copy_nonoverlapping(
            addr.as_ptr().cast::<u8>(),
            std::ptr::addr_of_mut!(request.gr_group).cast::<u8>(),
            addr.len() as usize,
        );
    }
    // SAFETY: setsockopt on our own socket with a group_req of its true size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            level,
            libc::MCAST_JOIN_GROUP,
            std::ptr::addr_of!(request).cast(),
            size_of::<libc::group_req>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
