//! A lab server in the host's own network namespace: a stand-in for the
//! node's services that tasks must not reach.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

use crate::scratch::ScratchDir;
use crate::server::ServerProcess;
use crate::Received;

/// An HTTP server on one address and port of the host namespace, killed on drop.
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
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "enf-host-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = ScratchDir::create(&name)?;
        let args = [
            "--tcp-port".to_owned(),
            tcp_port.to_string(),
            "--bind".to_owned(),
            bind.to_string(),
        ];
        let server = ServerProcess::start(None, scratch.path(), &args)?;
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
