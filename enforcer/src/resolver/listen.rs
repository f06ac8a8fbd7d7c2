//! The resolver's sockets for one task, bound on the loopback of the task's network
//! namespace, and the view of that namespace's TCP connections the resolver keeps.

use std::{
    fs::File,
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket},
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use enforcer_common::ResolverAddr;

/// Tries at finding a port free for both UDP and TCP.
const PORT_ATTEMPTS: usize = 16;

/// UDP socket and TCP listener on the same loopback port.
pub struct Listener {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl Listener {
    pub fn port(&self) -> u16 {
        self.udp.local_addr().map_or(0, |a| a.port())
    }
}

/// Everything opened inside the task's network namespace.
pub struct Bound {
    pub v4: Listener,
    /// `None` when the namespace has no IPv6 loopback.
    pub v6: Option<Listener>,
    /// `/proc/thread-self/net/tcp` and `tcp6` of the namespace, reread when needed.
    pub tcp_tables: [File; 2],
    pub netns_cookie: u64,
}

impl Bound {
    /// Where the kernel programs steer the task's DNS.
    pub fn resolver_addr(&self) -> ResolverAddr {
        ResolverAddr::new(
            Ipv4Addr::LOCALHOST.octets(),
            Ipv6Addr::LOCALHOST.octets(),
            self.v4.port(),
            self.v6.as_ref().map_or(0, Listener::port),
        )
    }
}

/// Binds the resolver's sockets in `netns` (an open `/proc/<pid>/ns/net` or
/// `/run/netns/<name>`), or in the enforcer's own namespace when `None`.
pub fn bind_in(netns: Option<BorrowedFd<'_>>) -> io::Result<Bound> {
    let netns = netns.map(|fd| fd.as_raw_fd());
    // A thread of its own, since joining a namespace is per thread; it ends right after.
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                if let Some(fd) = netns {
                    // SAFETY: setns(2) on this short-lived thread only.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                bind_here()
            })
            .join()
            .map_err(|_| io::Error::other("the thread binding the resolver panicked"))?
    })
}

fn bind_here() -> io::Result<Bound> {
    let v4 = listen_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("binding 127.0.0.1 in the task's network namespace (is its loopback up?): {e}"),
        )
    })?;
    let v6 = listen_on(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).ok();
    let tcp_tables = [
        File::open("/proc/thread-self/net/tcp")?,
        File::open("/proc/thread-self/net/tcp6")?,
    ];
    let netns_cookie = crate::node::socket_netns_cookie(v4.udp.as_fd())?;
    Ok(Bound {
        v4,
        v6,
        tcp_tables,
        netns_cookie,
    })
}

/// Marks a resolver socket as such ([`enforcer_common::RESOLVER_MARK`]): the kernel programs
/// let DNS reach a resolver's port only while the socket there has the mark.
fn mark_as_resolver(socket: BorrowedFd<'_>) -> io::Result<()> {
    let mark = enforcer_common::RESOLVER_MARK;
    // SAFETY: setsockopt(2) with a u32 value that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A UDP socket on a free port of `addr`'s address, and a TCP listener on the same port.
fn listen_on(addr: SocketAddr) -> io::Result<Listener> {
    let mut last_error = None;
    for _ in 0..PORT_ATTEMPTS {
        let udp = UdpSocket::bind(addr)?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                mark_as_resolver(udp.as_fd())?;
                mark_as_resolver(tcp.as_fd())?;
                return Ok(Listener { udp, tcp });
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free port")))
}
