//! `udp`: one datagram to an echo server.

use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::deadline::Deadline;
use super::outcome::{During, Failure, Outcome};

const PING: &[u8] = b"ping";

/// Sends "ping" to `dest` (sendto, or connect and send) and waits for the
/// echo; the reply is the echoed text. With `hold`, once connected it says "connected" on
/// stderr and waits for a line on stdin before sending (the timeout counts from then).
pub fn echo(dest: SocketAddr, connect: bool, hold: bool, timeout_ms: u64) -> Outcome {
    let socket: UdpSocket =
        Socket::new(Domain::for_address(dest), Type::DGRAM, Some(Protocol::UDP))
            .during("socket")?
            .into();
    if connect {
        socket.connect(dest).during("connect")?;
        if hold {
            eprintln!("connected");
            std::io::stdin()
                .read_line(&mut String::new())
                .during("read stdin")?;
        }
    }
    let deadline = Deadline::after_ms(timeout_ms);
    if connect {
        socket.send(PING).during("send")?;
    } else {
        socket.send_to(PING, dest).during("sendto")?;
    }
    socket
        .set_read_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).during("recv")?;
    if &buf[..n] == PING {
        Ok(Some(String::from_utf8_lossy(PING).into_owned()))
    } else {
        Err(Failure::other(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&buf[..n])
        )))
    }
}
