//! `raw` and `packet`: can this process create the sockets that bypass
//! ordinary connect/sendmsg checks?

use clap::ValueEnum;
use socket2::{Domain, Protocol, Socket, Type};

use super::outcome::{During, Outcome};

/// IP version of a raw socket.
#[derive(Clone, Copy, ValueEnum)]
pub enum Family {
    /// AF_INET with IPPROTO_ICMP.
    #[value(name = "4")]
    V4,
    /// AF_INET6 with IPPROTO_ICMPV6.
    #[value(name = "6")]
    V6,
}

/// Creates a raw ICMP or ICMPv6 socket.
pub fn raw(family: Family) -> Outcome {
    let (domain, protocol) = match family {
        Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
        Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
    };
    Socket::new(domain, Type::RAW, Some(protocol)).during("socket")?;
    Ok(None)
}

/// Creates an AF_PACKET socket seeing every protocol (`htons(ETH_P_ALL)`).
pub fn packet() -> Outcome {
    let all = i32::from((libc::ETH_P_ALL as u16).to_be());
    Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(all))).during("socket")?;
    Ok(None)
}
