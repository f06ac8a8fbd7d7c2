//! `connect-flood`: refused connects back to back, to flood the enforcer with denials.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use super::outcome::{During, Failure, Outcome};

/// Makes `count` TCP connects to `dest` as fast as it can; ok when every one was refused
/// at once (EPERM). The reply is the number refused.
pub fn connect_flood(dest: SocketAddr, count: u32) -> Outcome {
    for attempt in 1..=count {
        let socket = Socket::new(Domain::for_address(dest), Type::STREAM, Some(Protocol::TCP))
            .during("socket")?;
        match socket.connect(&dest.into()) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => return Err(Failure::from(e).during(&format!("connect #{attempt}"))),
            Ok(()) => {
                return Err(Failure::other(format!(
                    "connect #{attempt}: connected, not refused"
                )))
            }
        }
    }
    Ok(Some(count.to_string()))
}
