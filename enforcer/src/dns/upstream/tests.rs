use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::{Upstream, UpstreamError};
use crate::dns::testing::{a, name, reply_to};

const FIRST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SECOND: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// A UDP socket and a TCP listener on the same port of 127.0.0.1: one fake DNS server.
async fn bind_server() -> (UdpSocket, TcpListener) {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
}

/// The next query on `udp`, and where it came from.
async fn next_query(udp: &UdpSocket) -> (Message, SocketAddr) {
    let mut buffer = vec![0; 4096];
    let (len, client) = udp.recv_from(&mut buffer).await.unwrap();
    (Message::from_vec(&buffer[..len]).unwrap(), client)
}

/// A reply to `query` with one A record for its name.
fn answer(query: &Message, ip: Ipv4Addr) -> Message {
    let mut reply = reply_to(query);
    let owner = query.queries[0].name().to_ascii();
    reply.add_answer(a(&owner, ip, 60));
    reply
}

/// The first A address of `reply`.
fn address(reply: &Message) -> Ipv4Addr {
    match &reply.answers[0].data {
        RData::A(a) => a.0,
        other => panic!("not an A record: {other:?}"),
    }
}

async fn ask(servers: Vec<SocketAddr>, timeout: Duration) -> Result<Message, UpstreamError> {
    let upstream = Upstream::new(servers, timeout);
    upstream
        .ask(&name("files.example.com."), RecordType::A)
        .await
}

#[tokio::test]
async fn asks_a_fresh_recursive_query_with_edns_over_udp() {
    let (udp, _tcp) = bind_server().await;
    let server = udp.local_addr().unwrap();
    let serve = tokio::spawn(async move {
        let (query, client) = next_query(&udp).await;
        let reply = answer(&query, FIRST).to_vec().unwrap();
        udp.send_to(&reply, client).await.unwrap();
        query
    });
    let reply = ask(vec![server], Duration::from_secs(5)).await.unwrap();
    let query = serve.await.unwrap();
    assert_eq!(address(&reply), FIRST);
    assert_eq!(reply.metadata.id, query.metadata.id);
    assert_eq!(query.metadata.message_type, MessageType::Query);
    assert!(query.metadata.recursion_desired);
    assert_eq!(query.edns.map(|edns| edns.max_payload()), Some(1232));
    assert_eq!(query.queries[0].name(), &name("files.example.com."));
    assert_eq!(query.queries[0].query_type(), RecordType::A);
}

#[tokio::test]
async fn a_truncated_reply_is_asked_again_over_tcp() {
    let (udp, tcp) = bind_server().await;
    let server = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let (query, client) = next_query(&udp).await;
        let mut truncated = reply_to(&query);
        truncated.metadata.truncation = true;
        udp.send_to(&truncated.to_vec().unwrap(), client)
            .await
            .unwrap();
        let (mut stream, _) = tcp.accept().await.unwrap();
        let mut len = [0; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut bytes = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut bytes).await.unwrap();
        let reply = answer(&Message::from_vec(&bytes).unwrap(), SECOND)
            .to_vec()
            .unwrap();
        let len = u16::try_from(reply.len()).unwrap().to_be_bytes();
        stream
            .write_all(&[&len[..], &reply].concat())
            .await
            .unwrap();
    });
    let reply = ask(vec![server], Duration::from_secs(5)).await.unwrap();
    assert_eq!(address(&reply), SECOND);
    assert!(!reply.metadata.truncation);
}

#[tokio::test]
async fn replies_with_another_id_or_question_or_from_elsewhere_are_ignored() {
    let (udp, _tcp) = bind_server().await;
    let server = udp.local_addr().unwrap();
    let elsewhere = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(async move {
        let (query, client) = next_query(&udp).await;
        let mut wrong_id = answer(&query, Ipv4Addr::new(203, 0, 113, 1));
        wrong_id.metadata.id = query.metadata.id.wrapping_add(1);
        let mut wrong_question = answer(&query, Ipv4Addr::new(203, 0, 113, 2));
        wrong_question.queries[0].set_name(name("evil.net."));
        let spoofed = answer(&query, Ipv4Addr::new(203, 0, 113, 3));
        elsewhere
            .send_to(&spoofed.to_vec().unwrap(), client)
            .await
            .unwrap();
        for forged in [wrong_id, wrong_question] {
            udp.send_to(&forged.to_vec().unwrap(), client)
                .await
                .unwrap();
        }
        udp.send_to(b"not dns", client).await.unwrap();
        let reply = answer(&query, FIRST).to_vec().unwrap();
        udp.send_to(&reply, client).await.unwrap();
    });
    let reply = ask(vec![server], Duration::from_secs(5)).await.unwrap();
    assert_eq!(address(&reply), FIRST);
}

#[tokio::test]
async fn a_silent_server_gives_way_to_the_next() {
    let (silent, _silent_tcp) = bind_server().await;
    let (udp, _tcp) = bind_server().await;
    let servers = vec![silent.local_addr().unwrap(), udp.local_addr().unwrap()];
    tokio::spawn(async move {
        let (query, client) = next_query(&udp).await;
        let reply = answer(&query, SECOND).to_vec().unwrap();
        udp.send_to(&reply, client).await.unwrap();
    });
    let started = Instant::now();
    let reply = ask(servers, Duration::from_millis(600)).await.unwrap();
    assert_eq!(address(&reply), SECOND);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[tokio::test]
async fn a_refusing_port_fails_over_at_once() {
    let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let (udp, _tcp) = bind_server().await;
    let servers = vec![closed_addr, udp.local_addr().unwrap()];
    tokio::spawn(async move {
        let (query, client) = next_query(&udp).await;
        let reply = answer(&query, SECOND).to_vec().unwrap();
        udp.send_to(&reply, client).await.unwrap();
    });
    let started = Instant::now();
    let reply = ask(servers, Duration::from_secs(4)).await.unwrap();
    assert_eq!(address(&reply), SECOND);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn no_answer_in_time_is_a_timeout() {
    let (silent, _tcp) = bind_server().await;
    let server = silent.local_addr().unwrap();
    let error = ask(vec![server], Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(error, UpstreamError::Timeout { server: s } if s == server));
}

#[tokio::test]
async fn no_server_is_an_error() {
    let error = ask(Vec::new(), Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(error, UpstreamError::NoServers));
}
