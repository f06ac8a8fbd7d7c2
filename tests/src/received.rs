//! The lab servers' log: one line per thing a server received.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};

/// One line of the log `enforcer-probe serve --log` appends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A TCP connection was accepted on `local`:`port` (line `tcp <local> <port> <peer>`).
    Tcp {
        /// Address the client connected to.
        local: IpAddr,
        /// Port the client connected to.
        port: u16,
        /// Client address.
        peer: IpAddr,
    },
    /// A UDP datagram arrived on `local`:`port` (line `udp <local> <port> <peer>`).
    Udp {
        /// Address the datagram was sent to (the bound address: on a wildcard
        /// bind this is the wildcard, the server does not ask for each
        /// datagram's destination).
        local: IpAddr,
        /// Port the datagram was sent to.
        port: u16,
        /// Sender address.
        peer: IpAddr,
    },
    /// A DNS query, over UDP or TCP (line `dns <name> <qtype> <peer>`).
    Dns {
        /// Query name, lowercase, without the trailing dot.
        name: String,
        /// Query type as DNS names it (`A`, `AAAA`...).
        qtype: String,
        /// Client address.
        peer: IpAddr,
    },
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Received::Tcp { local, port, peer } => write!(f, "tcp {local} {port} {peer}"),
            Received::Udp { local, port, peer } => write!(f, "udp {local} {port} {peer}"),
            Received::Dns { name, qtype, peer } => write!(f, "dns {name} {qtype} {peer}"),
        }
    }
}

impl FromStr for Received {
    type Err = anyhow::Error;

    fn from_str(line: &str) -> Result<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [kind, a, b, peer] = fields[..] else {
            bail!("log line needs 4 fields: {line:?}");
        };
        let peer: IpAddr = peer.parse().with_context(|| format!("peer in {line:?}"))?;
        let socket = || -> Result<(IpAddr, u16)> {
            Ok((
                a.parse().with_context(|| format!("address in {line:?}"))?,
                b.parse().with_context(|| format!("port in {line:?}"))?,
            ))
        };
        match kind {
            "tcp" => socket().map(|(local, port)| Received::Tcp { local, port, peer }),
            "udp" => socket().map(|(local, port)| Received::Udp { local, port, peer }),
            "dns" => Ok(Received::Dns {
                name: a.to_owned(),
                qtype: b.to_owned(),
                peer,
            }),
            _ => Err(anyhow!("unknown log line kind: {line:?}")),
        }
    }
}

/// Parses a whole log file. A last line without its newline is still being
/// written and is left for the next read.
pub(crate) fn parse_log(text: &str) -> Result<Vec<Received>> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let lines = [
            "tcp 10.213.1.2 80 10.213.1.1",
            "udp fd13:0:0:1::3 9000 fd13:0:0:1::1",
            "dns files.lab.test AAAA 10.213.1.1",
        ];
        for line in lines {
            assert_eq!(line.parse::<Received>().unwrap().to_string(), line);
        }
    }

    #[test]
    fn partial_last_line_is_ignored() {
        let log = "tcp 10.213.1.2 80 10.213.1.1\nudp 10.213";
        assert_eq!(parse_log(log).unwrap().len(), 1);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!("tcp 10.213.1.2 eighty 10.213.1.1"
            .parse::<Received>()
            .is_err());
        assert!("icmp a b c".parse::<Received>().is_err());
    }
}
