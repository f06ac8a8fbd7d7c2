//! A lab server in the host's own network namespace: a stand-in for the
//! node's services that tasks must not reach.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

use crate::scratch::ScratchDir;
use crate::server::ServerProcess;
use crate::Received;

/// A server on one address and port (HTTP, UDP echo or DNS), killed on drop.
#[derive(Debug)]
pub struct HostService {
    // The server drops before its files.
    server: ServerProcess,
    _scratch: ScratchDir,
    addr: SocketAddr,
}

/// What a [`HostService`] serves.
#[derive(Clone, Copy)]
enum Serves {
    Http,
    UdpEcho,
    Dns,
}

impl HostService {
    /// Serves HTTP on `bind`:`tcp_port` (such as `127.0.0.1`) in the host
    /// namespace. With `tcp_port` 0 the kernel picks a free port: see [`Self::addr`].
    pub fn start(bind: IpAddr, tcp_port: u16) -> Result<HostService> {
        HostService::serve(None, Serves::Http, bind, tcp_port)
    }

    /// Serves DNS (every name NXDOMAIN) on `bind`:`port` in network namespace `netns`, in
    /// no task's cgroup: whoever holds a port there that a task might send to.
    pub fn dns_in(netns: &str, bind: IpAddr, port: u16) -> Result<HostService> {
        HostService::serve(Some(netns), Serves::Dns, bind, port)
    }

    /// Echoes UDP on `bind`:`port` in network namespace `netns`, in no task's cgroup.
    pub fn udp_echo_in(netns: &str, bind: IpAddr, port: u16) -> Result<HostService> {
        HostService::serve(Some(netns), Serves::UdpEcho, bind, port)
    }

    /// `enforcer-probe serve` of `what` on `bind`:`port`, in `netns` or the host's namespace.
    fn serve(netns: Option<&str>, what: Serves, bind: IpAddr, port: u16) -> Result<HostService> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "enf-host-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = ScratchDir::create(&name)?;
        let flag = match what {
            Serves::Http => "--tcp-port",
            Serves::UdpEcho => "--udp-port",
            Serves::Dns => "--dns-port",
        };
        let args = [
            flag.to_owned(),
            port.to_string(),
            "--bind".to_owned(),
            bind.to_string(),
        ];
        let server = ServerProcess::start(netns, scratch.path(), &args)?;
        let ready = server.ready();
        let bound = match what {
            Serves::Http => &ready.tcp,
            Serves::UdpEcho => &ready.udp,
            Serves::Dns => &ready.dns,
        };
        let addr = *bound.first().context("the server bound no socket")?;
        Ok(HostService {
            server,
            _scratch: scratch,
            addr,
        })
    }

    /// True once any datagram reached its echo socket.
    pub fn echoed(&self) -> bool {
        self.server
            .received()
            .iter()
            .any(|r| matches!(r, Received::Udp { .. }))
    }

    /// True once any DNS query reached it.
    pub fn queried(&self) -> bool {
        self.server
            .received()
            .iter()
            .any(|r| matches!(r, Received::Dns { .. }))
    }

    /// The address and port it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True once any TCP connection reached it.
    pub fn contacted(&self) -> bool {
        self.server
            .received()
            .iter()
            .any(|r| matches!(r, Received::Tcp { .. }))
    }
}
