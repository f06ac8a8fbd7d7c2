//! The lab: a network namespace with three hosts serving HTTP, UDP echo and
//! DNS, reachable from the host over a veth pair.

mod addressing;
mod netns;
mod reachable;
mod stale;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result};

use self::addressing::{v4, v6, GATEWAY, HOSTS};
use self::netns::LabNetns;
pub use self::stale::cleanup_stale_labs;
use crate::scratch::ScratchDir;
use crate::server::ServerProcess;
use crate::zone_spec::{ForeignRecord, HttpsSpec, NameSpec, RecordSpec, ZoneSpec};
use crate::{DnsTransport, Received};

/// TCP ports every lab host serves HTTP on.
const TCP_PORTS: [u16; 3] = [80, 443, 8080];
/// UDP echo port of every lab host.
const UDP_PORT: u16 = 9000;
/// DNS port (UDP and TCP) of every lab host.
const DNS_PORT: u16 = 53;
/// TTL of the zone's names, but for the short-lived ones.
const TTL: u32 = 60;
/// TTL of `rotate` and `short`, so caches must ask again at once.
const SHORT_TTL: u32 = 1;
/// Last byte of the first of `big.lab.test`'s addresses after host 0's; it
/// has 100 in all, too many for a UDP response of 512 bytes, or of the 1232 bytes
/// that resolvers advertise with EDNS.
const BIG_FIRST: u8 = 100;
/// How many addresses `big.lab.test` has besides host 0's.
const BIG_MORE: u8 = 99;
/// The `ech` of `https.lab.test`'s HTTPS record: not a real ECHConfigList,
/// only bytes a resolver must not pass on.
const ECH: &[u8] = b"\x00\x08lab-ech!";

/// A lab: network namespace `enf-lab-<i>` joined to the host by a veth pair.
///
/// | side | IPv4 | IPv6 |
/// |------|------|------|
/// | host (`enf<i>h`) | `10.213.<i>.1/24` | `fd13:0:0:<i>::1/64` |
/// | lab (`enf<i>l`) | `.2`, `.3`, `.4` | `::2`, `::3`, `::4` |
///
/// Every lab address serves HTTP on TCP 80, 443 and 8080 (the body names the
/// address and port that answered), UDP echo on 9000 and DNS on 53, over UDP
/// and TCP. A UDP response over 512 bytes (or the query's EDNS payload size)
/// goes as header and question with TC set; TCP answers in full. Every query
/// is logged ([`Lab::dns_queries`]).
///
/// The zone, with h0, h1, h2 = host 0, 1, 2 (A: IPv4, AAAA: IPv6; TTL 60
/// unless noted), every other name being NXDOMAIN:
///
/// | name | records |
/// |------|---------|
/// | `files.lab.test` | h0 |
/// | `mirror.lab.test`, `a.mirror.lab.test` | h1 |
/// | `blocked.lab.test` | h2 |
/// | `rotate.lab.test` | TTL 1; one address per answer, h0 then h1 then h0..., counted per type ([`Lab::dns_query_count_of`]) |
/// | `short.lab.test` | h1, TTL 1 |
/// | `alias.lab.test` | CNAME `files.lab.test`, answered with files' records |
/// | `chain.lab.test` | CNAME `alias.lab.test`, answered with the whole chain |
/// | `outside.lab.test` | CNAME `blocked.lab.test`, answered with blocked's records |
/// | `private.lab.test` | h2 (private, outside [`Lab::internal_allowance`]) |
/// | `loopback.lab.test` | `127.0.0.1`, `::1` |
/// | `metadata.lab.test` | A `169.254.169.254` only |
/// | `v6only.lab.test` | AAAA h1 only (A: NOERROR, no answer) |
/// | `extra.lab.test` | h0, plus `blocked.lab.test` -> h2 in the answer and additional sections |
/// | `big.lab.test` | A: h0 and `10.213.<i>.100` to `.198`, 100 records ([`Lab::big_addresses`]) |
/// | `*.deep.lab.test` | h1, for any name at any depth below `deep.lab.test`, owned by the queried name |
/// | `txt.lab.test` | TXT `secret-data`, A h0 |
/// | `https.lab.test` | h0, HTTPS `1 . alpn=h2 port=443 ipv4hint=<h2> ech=...` |
///
/// Dropping the lab kills its server and deletes the namespace, the veth pair
/// and the scratch directory.
#[derive(Debug)]
pub struct Lab {
    // Fields drop in order: the server before its files, the files before
    // the namespace whose index names them.
    server: ServerProcess,
    _scratch: ScratchDir,
    netns: LabNetns,
}

impl Lab {
    /// Builds a lab with a free index, and returns once the host reaches every
    /// lab address and the servers listen on all of them.
    ///
    /// The first lab of a process also removes stale labs of dead processes
    /// ([`cleanup_stale_labs`]).
    pub fn start() -> Result<Lab> {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(|| {
            if let Err(e) = cleanup_stale_labs() {
                eprintln!("warning: cleaning up stale labs: {e:#}");
            }
        });
        let netns = LabNetns::acquire()?;
        let scratch = ScratchDir::create(netns.name())?;
        stale::write_owner(scratch.path())?;
        netns.configure()?;
        reachable::wait_reachable(&lab_addresses(netns.index()))?;
        let zone_file = scratch.path().join("zone.json");
        std::fs::write(&zone_file, serde_json::to_vec_pretty(&zone(netns.index()))?)
            .with_context(|| format!("write {}", zone_file.display()))?;
        let server = ServerProcess::start(
            Some(netns.name()),
            scratch.path(),
            &serve_args(netns.index(), &zone_file),
        )?;
        Ok(Lab {
            server,
            _scratch: scratch,
            netns,
        })
    }

    /// IPv4 address of lab host `n`.
    ///
    /// # Panics
    /// When `n` is not 0, 1 or 2.
    pub fn host(&self, n: usize) -> Ipv4Addr {
        v4(self.index(), HOSTS[n])
    }

    /// IPv6 address of lab host `n`.
    ///
    /// # Panics
    /// When `n` is not 0, 1 or 2.
    pub fn host6(&self, n: usize) -> Ipv6Addr {
        v6(self.index(), HOSTS[n])
    }

    /// The lab's DNS server (host 0, IPv4).
    pub fn dns(&self) -> IpAddr {
        IpAddr::V4(self.host(0))
    }

    /// The host side of the veth pair, IPv4: the source of host traffic to the lab.
    pub fn gateway(&self) -> Ipv4Addr {
        v4(self.index(), GATEWAY)
    }

    /// The host side of the veth pair, IPv6.
    pub fn gateway6(&self) -> Ipv6Addr {
        v6(self.index(), GATEWAY)
    }

    /// Name of the lab's network namespace.
    pub fn netns(&self) -> &str {
        self.netns.name()
    }

    /// The lab index `i` (1..=250) in the names and addresses.
    pub fn index(&self) -> u8 {
        self.netns.index()
    }

    /// Everything the lab's servers received so far, oldest first.
    ///
    /// A server logs a connection or datagram before it answers, so whatever a
    /// finished probe got an answer to is already here.
    ///
    /// # Panics
    /// When the log is unreadable or garbled.
    pub fn received(&self) -> Vec<Received> {
        self.server.received()
    }

    /// True when a TCP connection or UDP datagram reached `addr`:`port`.
    pub fn contacted(&self, addr: IpAddr, port: u16) -> bool {
        self.received().iter().any(|r| match r {
            Received::Tcp { local, port: p, .. } | Received::Udp { local, port: p, .. } => {
                *local == addr && *p == port
            }
            Received::Dns { .. } => false,
        })
    }

    /// Names of every DNS query the lab answered, oldest first.
    pub fn dns_queries(&self) -> Vec<String> {
        self.dns_log().map(|(name, _, _)| name).collect()
    }

    /// Names of the DNS queries that came over `transport`, oldest first.
    pub fn dns_queries_over(&self, transport: DnsTransport) -> Vec<String> {
        self.dns_log()
            .filter(|(_, _, t)| *t == transport)
            .map(|(name, _, _)| name)
            .collect()
    }

    /// How many DNS queries of any type for `name` the lab answered.
    pub fn dns_query_count(&self, name: &str) -> usize {
        self.dns_log().filter(|(n, _, _)| n == name).count()
    }

    /// How many `qtype` (`A`, `AAAA`...) queries for `name` the lab answered;
    /// for `rotate.lab.test`, host 0 answers next when even, host 1 when odd.
    pub fn dns_query_count_of(&self, name: &str, qtype: &str) -> usize {
        self.dns_log()
            .filter(|(n, t, _)| n == name && t == qtype)
            .count()
    }

    /// `(name, qtype, transport)` of every DNS query, oldest first.
    fn dns_log(&self) -> impl Iterator<Item = (String, String, DnsTransport)> {
        self.received().into_iter().filter_map(|r| match r {
            Received::Dns {
                name,
                qtype,
                transport,
                ..
            } => Some((name, qtype, transport)),
            _ => None,
        })
    }

    /// The networks to let the enforcer treat as internal yet allowed: hosts
    /// 0 and 1 (`10.213.<i>.2/31`, `fd13:0:0:<i>::2/127`), not host 2, which
    /// stays a private address to refuse.
    pub fn internal_allowance(&self) -> Vec<String> {
        vec![
            format!("{}/31", self.host(0)),
            format!("{}/127", self.host6(0)),
        ]
    }

    /// The 100 A records of `big.lab.test`, in answer order.
    pub fn big_addresses(&self) -> Vec<Ipv4Addr> {
        big_addresses(self.index())
    }
}

/// Every address of lab `i`'s hosts.
fn lab_addresses(i: u8) -> Vec<IpAddr> {
    HOSTS
        .iter()
        .flat_map(|&last| [IpAddr::V4(v4(i, last)), IpAddr::V6(v6(i, last))])
        .collect()
}

/// `big.lab.test`'s addresses in lab `i`.
fn big_addresses(i: u8) -> Vec<Ipv4Addr> {
    let more = (0..BIG_MORE).map(|k| v4(i, BIG_FIRST + k));
    std::iter::once(v4(i, HOSTS[0])).chain(more).collect()
}

/// The DNS zone of lab `i` (see [`Lab`]).
fn zone(i: u8) -> ZoneSpec {
    let a = |n: usize| RecordSpec::Address(IpAddr::V4(v4(i, HOSTS[n])));
    let aaaa = |n: usize| RecordSpec::Address(IpAddr::V6(v6(i, HOSTS[n])));
    let host = |n: usize| vec![a(n), aaaa(n)];
    let cname = |target: &str| vec![RecordSpec::Cname(target.to_owned())];
    let blocked =
        [IpAddr::V4(v4(i, HOSTS[2])), IpAddr::V6(v6(i, HOSTS[2]))].map(|address| ForeignRecord {
            owner: "blocked.lab.test".to_owned(),
            address,
        });
    let https = RecordSpec::Https(HttpsSpec {
        priority: 1,
        target: ".".to_owned(),
        alpn: vec!["h2".to_owned()],
        port: 443,
        ipv4hint: vec![v4(i, HOSTS[2])],
        ech: ECH.to_vec(),
    });
    let loopback = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
    let metadata = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));
    let names = vec![
        NameSpec::new("files.lab.test", TTL, host(0)),
        NameSpec::new("mirror.lab.test", TTL, host(1)),
        NameSpec::new("a.mirror.lab.test", TTL, host(1)),
        NameSpec::new("blocked.lab.test", TTL, host(2)),
        NameSpec {
            rotate: true,
            ..NameSpec::new("rotate.lab.test", SHORT_TTL, [host(0), host(1)].concat())
        },
        NameSpec::new("short.lab.test", SHORT_TTL, host(1)),
        NameSpec::new("alias.lab.test", TTL, cname("files.lab.test")),
        NameSpec::new("chain.lab.test", TTL, cname("alias.lab.test")),
        NameSpec::new("outside.lab.test", TTL, cname("blocked.lab.test")),
        NameSpec::new("private.lab.test", TTL, host(2)),
        NameSpec::new(
            "loopback.lab.test",
            TTL,
            loopback.map(RecordSpec::Address).to_vec(),
        ),
        NameSpec::new(
            "metadata.lab.test",
            TTL,
            vec![RecordSpec::Address(metadata)],
        ),
        NameSpec::new("v6only.lab.test", TTL, vec![aaaa(1)]),
        NameSpec {
            foreign_answers: blocked.to_vec(),
            foreign_additionals: blocked.to_vec(),
            ..NameSpec::new("extra.lab.test", TTL, host(0))
        },
        NameSpec::new(
            "big.lab.test",
            TTL,
            big_addresses(i)
                .into_iter()
                .map(|ip| RecordSpec::Address(ip.into()))
                .collect(),
        ),
        NameSpec::new("*.deep.lab.test", TTL, host(1)),
        NameSpec::new(
            "txt.lab.test",
            TTL,
            vec![RecordSpec::Txt("secret-data".to_owned()), a(0)],
        ),
        NameSpec::new("https.lab.test", TTL, [host(0), vec![https]].concat()),
    ];
    ZoneSpec { names }
}

/// `serve` arguments for lab `i`: every service on every lab address.
///
/// The server binds each address rather than the wildcard so that UDP
/// replies leave from the address the client sent to, and the log names it.
fn serve_args(i: u8, zone_file: &Path) -> Vec<String> {
    let mut args = Vec::new();
    let mut flag = |name: &str, value: String| args.extend([format!("--{name}"), value]);
    for port in TCP_PORTS {
        flag("tcp-port", port.to_string());
    }
    flag("udp-port", UDP_PORT.to_string());
    flag("dns-port", DNS_PORT.to_string());
    flag("zone", zone_file.display().to_string());
    for addr in lab_addresses(i) {
        flag("bind", addr.to_string());
    }
    args
}
