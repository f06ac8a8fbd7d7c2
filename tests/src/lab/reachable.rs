//! Waiting until the host really reaches every lab address.
//!
//! A fresh veth pair can drop its first packets: the qdisc is attached
//! asynchronously after the link comes up. A lost SYN costs a 1 s
//! retransmission, which would make the first probe of a test look like a
//! timeout. A refused connect to a port nobody serves proves the path works
//! both ways, and leaves no trace in the servers' log.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// No lab server listens here, so the lab's kernel answers with a reset.
const UNSERVED_PORT: u16 = 1;

/// How long one connect may take before it is tried again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(200);

/// How long a lab may take to become reachable.
const REACHABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until a TCP connect from the host to each address is answered.
pub(crate) fn wait_reachable(addrs: &[IpAddr]) -> Result<()> {
    let deadline = Instant::now() + REACHABLE_TIMEOUT;
    for &addr in addrs {
        let target = SocketAddr::new(addr, UNSERVED_PORT);
        loop {
            match TcpStream::connect_timeout(&target, ATTEMPT_TIMEOUT) {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
                Err(e) if Instant::now() > deadline => {
                    bail!("lab address {addr} unreachable after {REACHABLE_TIMEOUT:?}: {e}")
                }
                Err(_) => continue,
            }
        }
    }
    Ok(())
}
