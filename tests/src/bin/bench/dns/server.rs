//! The lab's DNS server, a thread of the lab's server answering from the [`zone`] over
//! UDP.

use std::{
    io,
    net::{SocketAddr, UdpSocket},
    thread,
};

use hickory_proto::op::Message;

use super::zone;

/// Binds `addr` and answers on it from a thread of its own.
pub fn spawn(addr: SocketAddr) -> io::Result<()> {
    let socket = UdpSocket::bind(addr)?;
    thread::spawn(move || serve(&socket));
    Ok(())
}

/// Until the socket fails; the clients then see their queries go unanswered.
fn serve(socket: &UdpSocket) {
    let mut buf = [0u8; 4096];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e) => {
                eprintln!("enforcer-bench serve: DNS: {e}");
                return;
            }
        };
        // As any server, it leaves what it cannot decode unanswered.
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        match zone::answer(&request).to_vec() {
            Ok(response) => {
                let _ = socket.send_to(&response, peer);
            }
            Err(e) => eprintln!("enforcer-bench serve: encoding a DNS response: {e}"),
        }
    }
}
