//! The lab servers' log: one line per thing a server received.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

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
    /// A DNS query (line `dns <name> <qtype> <peer> <transport>`).
    Dns {
        /// Query name, lowercase, without the trailing dot.
        name: String,
        /// Query type as DNS names it (`A`, `AAAA`...).
        qtype: String,
        /// Client address.
        peer: IpAddr,
        /// How the query came.
        transport: DnsTransport,
    },
}

/// How a DNS query reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsTransport {
    /// A datagram (`udp`).
    Udp,
    /// A framed message on a TCP connection (`tcp`).
    Tcp,
}

impl fmt::Display for DnsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsTransport::Udp => "udp",
            DnsTransport::Tcp => "tcp",
        })
    }
}

impl FromStr for DnsTransport {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "udp" => Ok(DnsTransport::Udp),
            "tcp" => Ok(DnsTransport::Tcp),
            _ => bail!("unknown DNS transport {s:?}"),
        }
    }
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Received::Tcp { local, port, peer } => write!(f, "tcp {local} {port} {peer}"),
            Received::Udp { local, port, peer } => write!(f, "udp {local} {port} {peer}"),
            Received::Dns {
                name,
                qtype,
                peer,
                transport,
            } => write!(f, "dns {name} {qtype} {peer} {transport}"),
        }
    }
}

impl FromStr for Received {
    type Err = anyhow::Error;

    fn from_str(line: &str) -> Result<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let peer =
            |p: &str| -> Result<IpAddr> { p.parse().with_context(|| format!("peer in {line:?}")) };
        let socket = |a: &str, b: &str| -> Result<(IpAddr, u16)> {
            Ok((
                a.parse().with_context(|| format!("address in {line:?}"))?,
                b.parse().with_context(|| format!("port in {line:?}"))?,
            ))
        };
        match fields[..] {
            ["tcp", a, b, p] => {
                let (local, port) = socket(a, b)?;
                Ok(Received::Tcp {
                    local,
                    port,
                    peer: peer(p)?,
                })
            }
            ["udp", a, b, p] => {
                let (local, port) = socket(a, b)?;
                Ok(Received::Udp {
                    local,
                    port,
                    peer: peer(p)?,
                })
            }
            ["dns", name, qtype, p, transport] => Ok(Received::Dns {
                name: name.to_owned(),
                qtype: qtype.to_owned(),
                peer: peer(p)?,
                transport: transport
                    .parse()
                    .with_context(|| format!("transport in {line:?}"))?,
            }),
            _ => bail!("malformed log line: {line:?}"),
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
            "dns files.lab.test AAAA 10.213.1.1 udp",
            "dns x.y.deep.lab.test A fd13:0:0:1::1 tcp",
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
        assert!("dns files.lab.test A 10.213.1.1"
            .parse::<Received>()
            .is_err());
        assert!("dns files.lab.test A 10.213.1.1 sctp"
            .parse::<Received>()
            .is_err());
    }
}
