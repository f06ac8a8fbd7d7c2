//! The lab: a network namespace with three hosts serving HTTP, UDP echo and
//! DNS, reachable from the host over a veth pair.

mod addressing;
mod netns;
mod reachable;
mod stale;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Once;

use anyhow::Result;

use self::addressing::{v4, v6, GATEWAY, HOSTS};
use self::netns::LabNetns;
pub use self::stale::cleanup_stale_labs;
use crate::scratch::ScratchDir;
use crate::server::ServerProcess;
use crate::Received;

/// TCP ports every lab host serves HTTP on.
const TCP_PORTS: [u16; 3] = [80, 443, 8080];
/// UDP echo port of every lab host.
const UDP_PORT: u16 = 9000;
/// DNS port (UDP and TCP) of every lab host.
const DNS_PORT: u16 = 53;

/// A lab: network namespace `enf-lab-<i>` joined to the host by a veth pair.
///
/// | side | IPv4 | IPv6 |
/// |------|------|------|
/// | host (`enf<i>h`) | `10.213.<i>.1/24` | `fd13:0:0:<i>::1/64` |
/// | lab (`enf<i>l`) | `.2`, `.3`, `.4` | `::2`, `::3`, `::4` |
///
/// Every lab address serves HTTP on TCP 80, 443 and 8080 (the body names the
/// address and port that answered), UDP echo on 9000 and DNS on 53 with:
/// `files.lab.test` -> host 0; `mirror.lab.test`, `a.mirror.lab.test` ->
/// host 1; `blocked.lab.test` -> host 2 (A and AAAA); NXDOMAIN otherwise.
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
        let server = ServerProcess::start(
            Some(netns.name()),
            scratch.path(),
            &serve_args(netns.index()),
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
        self.received()
            .into_iter()
            .filter_map(|r| match r {
                Received::Dns { name, .. } => Some(name),
                _ => None,
            })
            .collect()
    }
}

/// Every address of lab `i`'s hosts.
fn lab_addresses(i: u8) -> Vec<IpAddr> {
    HOSTS
        .iter()
        .flat_map(|&last| [IpAddr::V4(v4(i, last)), IpAddr::V6(v6(i, last))])
        .collect()
}

/// `serve` arguments for lab `i`: every service on every lab address.
///
/// The server binds each address rather than the wildcard so that UDP
/// replies leave from the address the client sent to, and the log names it.
fn serve_args(i: u8) -> Vec<String> {
    let mut args = Vec::new();
    let mut flag = |name: &str, value: String| args.extend([format!("--{name}"), value]);
    for port in TCP_PORTS {
        flag("tcp-port", port.to_string());
    }
    flag("udp-port", UDP_PORT.to_string());
    flag("dns-port", DNS_PORT.to_string());
    let records = [
        ("files.lab.test", HOSTS[0]),
        ("mirror.lab.test", HOSTS[1]),
        ("a.mirror.lab.test", HOSTS[1]),
        ("blocked.lab.test", HOSTS[2]),
    ];
    for (name, last) in records {
        flag("record", format!("{name}={}", v4(i, last)));
        flag("record", format!("{name}={}", v6(i, last)));
    }
    for addr in lab_addresses(i) {
        flag("bind", addr.to_string());
    }
    args
}
