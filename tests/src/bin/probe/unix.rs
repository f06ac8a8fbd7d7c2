//! `unix-connect`: may this process reach a unix socket made outside it?

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};

use super::outcome::{During, Outcome};

/// Connects to `target`: an abstract name after a leading `@`, else a path.
pub fn connect(target: &str) -> Outcome {
    let addr = match target.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(target),
    }
    .during("address")?;
    UnixStream::connect_addr(&addr).during("connect")?;
    Ok(None)
}
