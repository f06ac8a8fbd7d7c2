//! `dns`: one query, over UDP or TCP, built and parsed with hickory-proto.

use std::net::{SocketAddr, UdpSocket};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use socket2::{Domain, Protocol, Socket, Type};

use super::deadline::Deadline;
use super::dns_frame::{read_frame, write_frame};
use super::outcome::{During, Failure, Outcome};
use super::tcp;

/// Asks `server` for `name`/`qtype`. Any response is a success; the reply is
/// the answers' data joined by ",", prefixed with `<RCODE>:` unless the
/// response code is NoError (`NXDomain:`, `Refused:`...).
pub fn query(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    over_tcp: bool,
    timeout_ms: u64,
) -> Outcome {
    let deadline = Deadline::after_ms(timeout_ms);
    let name = Name::from_ascii(name).map_err(|e| Failure::other(format!("{name:?}: {e}")))?;
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(name, qtype));
    let bytes = request
        .to_vec()
        .map_err(|e| Failure::other(format!("encode query: {e}")))?;
    let id = request.metadata.id;
    let response = if over_tcp {
        exchange_tcp(server, &bytes, &deadline)?
    } else {
        exchange_udp(server, &bytes, id, &deadline)?
    };
    if response.metadata.id != id {
        return Err(Failure::other("response id does not match the query"));
    }
    Ok(Some(describe(&response)))
}

fn describe(response: &Message) -> String {
    let answers: Vec<String> = response
        .answers
        .iter()
        .map(|r| r.data.to_string())
        .collect();
    let answers = answers.join(",");
    match response.metadata.response_code {
        ResponseCode::NoError => answers,
        code => format!("{code:?}:{answers}"),
    }
}

/// Connects (as glibc's resolver does), sends, and waits for the response
/// with our id, skipping strays.
fn exchange_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    deadline: &Deadline,
) -> Result<Message, Failure> {
    let socket: UdpSocket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .during("socket")?
    .into();
    socket.connect(server).during("connect")?;
    socket.send(query).during("send")?;
    let mut buf = [0u8; 4096];
    loop {
        socket
            .set_read_timeout(Some(deadline.remaining()?))
            .during("setsockopt")?;
        let n = socket.recv(&mut buf).during("recv")?;
        match Message::from_vec(&buf[..n]) {
            Ok(message) if message.metadata.id == id => return Ok(message),
            _ => continue,
        }
    }
}

fn exchange_tcp(server: SocketAddr, query: &[u8], deadline: &Deadline) -> Result<Message, Failure> {
    let mut stream = tcp::connect(server, deadline.remaining()?).during("connect")?;
    stream
        .set_write_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    write_frame(&mut stream, query).during("send")?;
    stream
        .set_read_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    let response = read_frame(&mut stream).during("recv")?;
    Message::from_vec(&response).map_err(|e| Failure::other(format!("decode response: {e}")))
}
