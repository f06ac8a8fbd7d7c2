//! `connect-flood`: refused connects back to back, to flood the enforcer with denials;
//! `dns-flood`: queries back to back, to flood a resolver.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use socket2::{Domain, Protocol, Socket, Type};

use super::dns::udp_socket_for;
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

/// Sends `count` A queries for `name` to `server` back to back from one socket, then counts
/// the answers that arrive within a second of the last. The reply is the number answered.
pub fn dns_flood(server: SocketAddr, name: &str, count: u16) -> Outcome {
    let socket = udp_socket_for(server)?;
    socket.connect(server).during("connect")?;
    let name = Name::from_ascii(name).map_err(|e| Failure::other(format!("{name:?}: {e}")))?;
    for id in 0..count {
        let mut query = Message::query();
        query.metadata.id = id;
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(name.clone(), RecordType::A));
        let bytes = query
            .to_vec()
            .map_err(|e| Failure::other(format!("encode query: {e}")))?;
        socket.send(&bytes).during("send")?;
    }
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .during("setsockopt")?;
    let mut answered = 0u32;
    let mut buf = [0u8; 4096];
    while socket.recv(&mut buf).is_ok() {
        answered += 1;
    }
    Ok(Some(answered.to_string()))
}
