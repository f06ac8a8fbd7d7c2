//! The ready file `enforcer-probe serve` writes once every socket is bound.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Contents of the ready file: the addresses actually bound, so a caller that
/// asked for port 0 learns the port the kernel chose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// HTTP listeners.
    pub tcp: Vec<SocketAddr>,
    /// UDP echo sockets.
    pub udp: Vec<SocketAddr>,
    /// DNS sockets (each address is served over both UDP and TCP).
    pub dns: Vec<SocketAddr>,
}
