//! A lab server in the host's own network namespace: a stand-in for the
//! node's services that tasks must not reach.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

use crate::scratch::ScratchDir;
use crate::server::ServerProcess;
use crate::Received;

/// `enforcer-probe serve` with `args` on `bind`, in `netns` or the host's namespace.
fn serve(netns: Option<&str>, args: &[&str], bind: IpAddr) -> Result<(ServerProcess, ScratchDir)> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "enf-host-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let scratch = ScratchDir::create(&name)?;
    let mut args: Vec<String> = args.iter().map(ToString::to_string).collect();
    args.extend(["--bind".to_owned(), bind.to_string()]);
    let server = ServerProcess::start(netns, scratch.path(), &args)?;
    Ok((server, scratch))
}

/// A server on one address and port (HTTP, or DNS), killed on drop.
#[derive(Debug)]
pub struct HostService {
    // The server drops before its files.
    server: ServerProcess,
    _scratch: ScratchDir,
    addr: SocketAddr,
}

impl HostService {
    /// Serves HTTP on `bind`:`tcp_port` (such as `127.0.0.1`) in the host
    /// namespace. With `tcp_port` 0 the kernel picks a free port: see [`Self::addr`].
    pub fn start(bind: IpAddr, tcp_port: u16) -> Result<HostService> {
        let (server, scratch) = serve(None, &["--tcp-port", &tcp_port.to_string()], bind)?;
        let addr = *server
            .ready()
            .tcp
            .first()
            .context("server bound no TCP socket")?;
        Ok(HostService {
            server,
            _scratch: scratch,
            addr,
        })
    }

    /// Serves DNS (every name NXDOMAIN) on `bind`:`port` in network namespace `netns`, in
    /// no task's cgroup: whoever holds a port there that a task might send to.
    pub fn dns_in(netns: &str, bind: IpAddr, port: u16) -> Result<HostService> {
        let (server, scratch) = serve(Some(netns), &["--dns-port", &port.to_string()], bind)?;
        let addr = *server
            .ready()
            .dns
            .first()
            .context("server bound no DNS socket")?;
        Ok(HostService {
            server,
            _scratch: scratch,
            addr,
        })
    }

    /// Echoes UDP on `bind`:`port` in network namespace `netns`, in no task's cgroup.
    pub fn udp_echo_in(netns: &str, bind: IpAddr, port: u16) -> Result<HostService> {
        let (server, scratch) = serve(Some(netns), &["--udp-port", &port.to_string()], bind)?;
        let addr = *server
            .ready()
            .udp
            .first()
            .context("server bound no UDP socket")?;
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
