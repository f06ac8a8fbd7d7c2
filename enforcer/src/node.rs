//! Facts about the node the loader needs: its network namespace and its own addresses.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

/// `SO_NETNS_COOKIE` (Linux 5.14), not yet in every libc crate.
const SO_NETNS_COOKIE: libc::c_int = 71;

/// Cookie of this process's network namespace: the "host" namespace of the tasks it runs.
pub fn netns_cookie() -> io::Result<u64> {
    // SAFETY: socket(2); the descriptor is owned (and closed) by the OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, ours alone.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    socket_netns_cookie(socket.as_fd())
}

/// Cookie of the network namespace `socket` was created in.
pub fn socket_netns_cookie(socket: BorrowedFd<'_>) -> io::Result<u64> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt into a u64 of the size given.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// Every address configured on this network namespace's interfaces.
pub fn addresses() -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head`, freed below; we only read the sockaddrs it returns.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut found = Vec::new();
        let mut cursor = head;
        while let Some(ifa) = cursor.as_ref() {
            if let Some(sa) = ifa.ifa_addr.as_ref() {
                match sa.sa_family as libc::c_int {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        found.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        found.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cursor = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
        found.sort();
        found.dedup();
        Ok(found)
    }
}

/// Whether this process runs as root (the loader needs it).
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}
