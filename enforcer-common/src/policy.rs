//! The policy decision: may this flow leave the task?
//!
//! Kept here, free of kernel types, so the eBPF hooks and the unit tests run the same code.

use crate::{proto, DNS_PORT};

/// Most HTTP ports one task may be given.
pub const MAX_HTTP_PORTS: usize = 8;

/// A task's network mode as the kernel programs see it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No IP traffic out of the task.
    None = 0,
    /// Unrestricted (still counted).
    Full = 1,
    /// TCP to the HTTP ports of allowed addresses, DNS to the allowed resolvers.
    Http = 2,
}

impl Mode {
    /// Decodes the value stored in [`TaskConfig::mode`]; unknown values mean [`Mode::None`]
    /// so a corrupt config fails closed.
    pub const fn from_raw(raw: u32) -> Mode {
        match raw {
            1 => Mode::Full,
            2 => Mode::Http,
            _ => Mode::None,
        }
    }
}

/// One task's settings, kept in the cgroup storage of the cgroup the programs are attached
/// to (`TASK` in the eBPF crate), so one loaded set of programs serves every task and a
/// task's settings change with one write.
///
/// All zeroes is [`TaskConfig::CLOSED`]: the kernel creates a cgroup's storage zeroed when
/// the programs are attached, so a task is closed until its settings are written.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskConfig {
    /// Cookie of the host's network namespace: sockets there must not reach loopback.
    pub host_netns_cookie: u64,
    /// The task's number in the shared maps (allowlists, resolvers); 0 is no task.
    pub task: u32,
    /// A [`Mode`] as `u32`.
    pub mode: u32,
    /// How many entries of `http_ports` are used.
    pub http_port_count: u32,
    /// TCP destination ports allowed in HTTP mode, host byte order.
    pub http_ports: [u16; MAX_HTTP_PORTS],
    /// The task's entry in the per-CPU counters array (`COUNTERS`); 0 is no task's, where a
    /// storage not yet written counts. An index, not cgroup storage: finding a cgroup's
    /// storage is a helper call each run, an array entry a few inlined instructions.
    pub counter_index: u32,
}

impl TaskConfig {
    /// What a cgroup's storage holds before its settings are written: no network.
    pub const CLOSED: TaskConfig = TaskConfig {
        host_netns_cookie: 0,
        task: 0,
        mode: Mode::None as u32,
        http_port_count: 0,
        http_ports: [0; MAX_HTTP_PORTS],
        counter_index: 0,
    };

    fn allows_http_port(&self, port: u16) -> bool {
        let mut i = 0;
        while i < MAX_HTTP_PORTS {
            if (i as u32) < self.http_port_count && self.http_ports[i] == port {
                return true;
            }
            i += 1;
        }
        false
    }
}

/// A destination address, IPv4-mapped IPv6 already folded into IPv4.
///
/// Four 32-bit words, each four address bytes in network order as the kernel hands them
/// over, so the programs load, compare and copy words rather than sixteen single bytes.
/// A plain struct rather than an enum: the undefined bytes of an enum's shorter variant
/// reach registers the BPF verifier refuses to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addr {
    /// An IPv4 address fills the first word, the rest are zero.
    pub words: [u32; 4],
    pub is_v4: bool,
}

impl Addr {
    /// An IPv4 address.
    pub const fn v4(o: [u8; 4]) -> Addr {
        Addr::v4_word(u32::from_ne_bytes(o))
    }

    /// An IPv4 address as the kernel keeps it: its bytes in network order in memory.
    pub const fn v4_word(word: u32) -> Addr {
        Addr {
            words: [word, 0, 0, 0],
            is_v4: true,
        }
    }

    /// An IPv6 address, judged as the IPv4 address it carries when it is `::ffff:a.b.c.d`.
    pub const fn from_v6(o: [u8; 16]) -> Addr {
        let mut words = [0; 4];
        let mut i = 0;
        while i < 4 {
            words[i] = u32::from_ne_bytes([o[i * 4], o[i * 4 + 1], o[i * 4 + 2], o[i * 4 + 3]]);
            i += 1;
        }
        Addr::from_v6_words(words)
    }

    /// [`Addr::from_v6`] of an address as the kernel keeps it, four words.
    pub const fn from_v6_words(words: [u32; 4]) -> Addr {
        if words[0] == 0 && words[1] == 0 && words[2] == u32::from_ne_bytes([0, 0, 0xff, 0xff]) {
            Addr::v4_word(words[3])
        } else {
            Addr {
                words,
                is_v4: false,
            }
        }
    }

    /// The IPv4 octets (meaningful when `is_v4`).
    pub const fn v4_octets(&self) -> [u8; 4] {
        self.words[0].to_ne_bytes()
    }

    /// All sixteen bytes, network order (an IPv4 address first, then zeroes).
    pub fn octets(&self) -> [u8; 16] {
        let mut octets = [0; 16];
        let mut i = 0;
        while i < 4 {
            let bytes = self.words[i].to_ne_bytes();
            octets[i * 4] = bytes[0];
            octets[i * 4 + 1] = bytes[1];
            octets[i * 4 + 2] = bytes[2];
            octets[i * 4 + 3] = bytes[3];
            i += 1;
        }
        octets
    }

    /// Loopback, or the unspecified address (connecting to it reaches loopback).
    pub fn is_loopback_or_unspecified(&self) -> bool {
        let w = self.words;
        if self.is_v4 {
            return self.v4_octets()[0] == 127 || w[0] == 0;
        }
        w[0] == 0
            && w[1] == 0
            && w[2] == 0
            && (w[3] == 0 || w[3] == u32::from_ne_bytes([0, 0, 0, 1]))
    }
}

/// One flow out of the task: where it goes and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub addr: Addr,
    /// Destination port, host order; meaningless unless `has_port`.
    pub port: u16,
    /// False for a packet that carries no transport header (a non-first IPv4 fragment),
    /// which is then judged by address alone. (Not an `Option`: its undefined payload
    /// makes the BPF verifier reject the program.)
    pub has_port: bool,
    /// IP protocol number ([`crate::proto`]).
    pub protocol: u8,
}

/// Why a flow was refused.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The task's mode is None.
    NetworkNone = 1,
    /// The address is not on the task's allowlist.
    AddressNotAllowed = 2,
    /// Allowed address, but not one of the HTTP ports.
    PortNotAllowed = 3,
    /// Not TCP, and not DNS to an allowed resolver.
    ProtocolNotAllowed = 4,
    /// Loopback of the host's network namespace (the node's own services).
    HostLoopback = 5,
    /// An address of the node itself.
    NodeAddress = 6,
    /// A raw IP socket.
    RawSocket = 7,
    /// An ICMP "ping" socket.
    PingSocket = 8,
    /// DNS that did not go to the task's resolver (a packet to port 53 no hook steered).
    ResolverNotAllowed = 9,
    /// Joining a multicast or anycast group (the kernel would announce it on the link).
    MulticastMembership = 10,
    /// DNS from a network namespace where the task has no resolver (fails closed).
    NoResolver = 11,
    /// Binding a port a task's resolver listens on: taken while the agent is down, it
    /// would hear that task's DNS and talk with it.
    ResolverPort = 12,
    /// Setting a socket's mark: the resolvers' mark makes a socket pass for one.
    SocketMark = 13,
}

impl Reason {
    /// Decodes [`crate::DenyEvent::reason`].
    pub fn from_raw(raw: u8) -> Option<Reason> {
        Some(match raw {
            1 => Reason::NetworkNone,
            2 => Reason::AddressNotAllowed,
            3 => Reason::PortNotAllowed,
            4 => Reason::ProtocolNotAllowed,
            5 => Reason::HostLoopback,
            6 => Reason::NodeAddress,
            7 => Reason::RawSocket,
            8 => Reason::PingSocket,
            9 => Reason::ResolverNotAllowed,
            10 => Reason::MulticastMembership,
            11 => Reason::NoResolver,
            12 => Reason::ResolverPort,
            13 => Reason::SocketMark,
            _ => return None,
        })
    }

    /// A short stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NetworkNone => "network-none",
            Reason::AddressNotAllowed => "address-not-allowed",
            Reason::PortNotAllowed => "port-not-allowed",
            Reason::ProtocolNotAllowed => "protocol-not-allowed",
            Reason::HostLoopback => "host-loopback",
            Reason::NodeAddress => "node-address",
            Reason::RawSocket => "raw-socket",
            Reason::PingSocket => "ping-socket",
            Reason::ResolverNotAllowed => "resolver-not-allowed",
            Reason::MulticastMembership => "multicast-membership",
            Reason::NoResolver => "no-resolver",
            Reason::ResolverPort => "resolver-port",
            Reason::SocketMark => "socket-mark",
        }
    }
}

/// What the allowlist says of an address (the value stored with it).
pub mod listed {
    /// Not on the allowlist.
    pub const NO: u8 = 0;
    /// On the allowlist (a resolved name, an IP literal, a CIDR).
    pub const ALLOWED: u8 = 1;
    /// An address of the node itself, stored as a single address, which wins over any CIDR.
    pub const NODE: u8 = 2;
    /// A looked-up address whose time ran out while connections to it were open: their
    /// packets still pass, new connects are refused. Removed once those connections end.
    pub const RETIRED: u8 = 3;
}

/// What `judge` needs to know beyond the flow: backed by BPF maps and helpers in the
/// kernel, by plain values in tests. Each is asked only when the decision needs it, so the
/// common case (an allowed TCP packet) costs one hash lookup.
pub trait AddressBook {
    /// A [`listed`] value: the single-address entry for `addr`, else the longest CIDR match.
    fn listed(&self, addr: &Addr) -> u8;
    /// The task's own resolver in the socket's network namespace (HTTP mode).
    fn is_resolver(&self, addr: &Addr, port: u16) -> bool;
    /// The socket lives in the host's network namespace (its loopback is the node's).
    fn in_host_netns(&self) -> bool;
    /// `port` on the loopback of the socket's network namespace is another task's resolver.
    fn is_anothers_resolver(&self, port: u16) -> bool;
}

/// How an allowed flow goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To the destination the task asked for.
    AsAsked,
    /// To the task's resolver: DNS in HTTP mode, whatever server the task aimed at.
    ToResolver,
    /// To the task's resolver, which the task named itself (the programs still check that
    /// the socket on its port is the resolver's).
    OwnResolver,
}

/// What is judged: a destination the task names (connect, sendmsg), which may still be
/// steered, or a packet already on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    Destination,
    Packet,
}

/// Decides whether and how `flow` may leave a task with config `cfg`.
#[inline(always)]
pub fn judge(
    cfg: &TaskConfig,
    flow: &Flow,
    book: &impl AddressBook,
    judged: Judged,
) -> Result<Route, Reason> {
    let mode = Mode::from_raw(cfg.mode);
    if let Mode::Full = mode {
        return Ok(Route::AsAsked);
    }
    // Settings not written yet (a zeroed storage): no task, no network, not even loopback,
    // since the host's namespace is not known.
    if cfg.task == 0 {
        return Err(Reason::NetworkNone);
    }
    let loopback = flow.addr.is_loopback_or_unspecified();
    let tcp_or_udp = flow.protocol == proto::UDP || flow.protocol == proto::TCP;
    if let (Mode::Http, true, true) = (mode, tcp_or_udp, flow.has_port) {
        // The resolver listens on loopback, so only loopback flows pay for the lookup.
        if loopback && book.is_resolver(&flow.addr, flow.port) {
            return Ok(Route::OwnResolver);
        }
        // All DNS goes to the task's resolver, even to the task's own loopback.
        if flow.port == DNS_PORT {
            return match judged {
                Judged::Destination => Ok(Route::ToResolver),
                Judged::Packet => Err(Reason::ResolverNotAllowed),
            };
        }
    }
    // A task in its own network namespace keeps its own loopback, in every mode, but for
    // another task's resolver there (a None task would have DNS through it).
    if loopback && !book.in_host_netns() {
        if flow.has_port && book.is_anothers_resolver(flow.port) {
            return Err(Reason::ResolverNotAllowed);
        }
        return Ok(Route::AsAsked);
    }
    if let Mode::None = mode {
        return Err(if loopback {
            Reason::HostLoopback
        } else {
            Reason::NetworkNone
        });
    }
    if loopback {
        return Err(Reason::HostLoopback);
    }
    if flow.protocol != proto::TCP {
        return Err(Reason::ProtocolNotAllowed);
    }
    match book.listed(&flow.addr) {
        listed::ALLOWED => {}
        listed::RETIRED if judged == Judged::Packet => {}
        listed::NODE => return Err(Reason::NodeAddress),
        _ => return Err(Reason::AddressNotAllowed),
    }
    if flow.has_port && !cfg.allows_http_port(flow.port) {
        return Err(Reason::PortNotAllowed);
    }
    Ok(Route::AsAsked)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Book {
        in_host_netns: bool,
    }
    const HOST_BOOK: Book = Book {
        in_host_netns: true,
    };
    const OWN_NETNS_BOOK: Book = Book {
        in_host_netns: false,
    };
    const ALLOWED: Addr = Addr::v4([10, 0, 0, 2]);
    const ALLOWED6: Addr = Addr::from_v6([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    const RETIRED: Addr = Addr::v4([10, 0, 0, 3]);
    const DNS: Addr = Addr::v4([10, 0, 0, 53]);
    const NODE: Addr = Addr::v4([192, 0, 2, 2]);
    const OTHER: Addr = Addr::v4([10, 0, 0, 9]);
    const LOOPBACK: Addr = Addr::v4([127, 0, 0, 1]);
    const LOOPBACK6: Addr = Addr::from_v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    /// The task's resolver: 127.0.0.1:5300.
    const RESOLVER_PORT: u16 = 5300;
    /// Another task's resolver in the same namespace.
    const ANOTHERS_RESOLVER_PORT: u16 = 5400;

    impl AddressBook for Book {
        fn listed(&self, addr: &Addr) -> u8 {
            if *addr == NODE {
                listed::NODE
            } else if *addr == RETIRED {
                listed::RETIRED
            } else if *addr == ALLOWED || *addr == ALLOWED6 {
                listed::ALLOWED
            } else {
                listed::NO
            }
        }
        fn is_resolver(&self, addr: &Addr, port: u16) -> bool {
            *addr == LOOPBACK && port == RESOLVER_PORT
        }
        fn in_host_netns(&self) -> bool {
            self.in_host_netns
        }
        fn is_anothers_resolver(&self, port: u16) -> bool {
            port == ANOTHERS_RESOLVER_PORT
        }
    }

    fn cfg(mode: Mode) -> TaskConfig {
        let mut http_ports = [0; MAX_HTTP_PORTS];
        http_ports[0] = 80;
        http_ports[1] = 443;
        TaskConfig {
            host_netns_cookie: 1,
            task: 1,
            mode: mode as u32,
            http_port_count: 2,
            http_ports,
            counter_index: 0,
        }
    }

    fn flow(addr: Addr, port: Option<u16>, protocol: u8) -> Flow {
        Flow {
            addr,
            port: port.unwrap_or(0),
            has_port: port.is_some(),
            protocol,
        }
    }

    /// (mode, flow, socket in the host netns, verdict for a destination, for a packet)
    type Case = (
        Mode,
        Flow,
        bool,
        Result<Route, Reason>,
        Result<Route, Reason>,
    );

    #[test]
    fn decisions_by_mode() {
        use proto::{ICMP, TCP, UDP};
        use Reason::*;
        use Route::*;
        let same = |verdict: Result<Route, Reason>| (verdict, verdict);
        let case = |mode, flow, host, (dest, packet)| -> Case { (mode, flow, host, dest, packet) };
        let cases: &[Case] = &[
            case(
                Mode::Full,
                flow(OTHER, Some(22), UDP),
                true,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::Full,
                flow(LOOPBACK, Some(22), TCP),
                true,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::Full,
                flow(DNS, Some(53), UDP),
                true,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::None,
                flow(ALLOWED, Some(80), TCP),
                true,
                same(Err(NetworkNone)),
            ),
            case(
                Mode::None,
                flow(DNS, Some(53), UDP),
                true,
                same(Err(NetworkNone)),
            ),
            case(
                Mode::None,
                flow(LOOPBACK, Some(80), TCP),
                true,
                same(Err(HostLoopback)),
            ),
            case(
                Mode::None,
                flow(LOOPBACK6, Some(80), TCP),
                true,
                same(Err(HostLoopback)),
            ),
            case(
                Mode::None,
                flow(LOOPBACK, Some(80), TCP),
                false,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::None,
                flow(LOOPBACK, Some(RESOLVER_PORT), UDP),
                true,
                same(Err(HostLoopback)),
            ),
            case(
                Mode::Http,
                flow(ALLOWED, Some(80), TCP),
                true,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::Http,
                flow(ALLOWED, Some(443), TCP),
                true,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::Http,
                flow(ALLOWED6, Some(443), TCP),
                true,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::Http,
                flow(ALLOWED, None, TCP),
                true,
                same(Ok(AsAsked)),
            ),
            case(
                Mode::Http,
                flow(ALLOWED, Some(8080), TCP),
                true,
                same(Err(PortNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(ALLOWED, Some(80), UDP),
                true,
                same(Err(ProtocolNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(ALLOWED, None, ICMP),
                true,
                same(Err(ProtocolNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(OTHER, Some(80), TCP),
                true,
                same(Err(AddressNotAllowed)),
            ),
            // Every DNS destination is steered; a DNS packet that was not is dropped.
            case(
                Mode::Http,
                flow(DNS, Some(53), UDP),
                true,
                (Ok(ToResolver), Err(ResolverNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(OTHER, Some(53), TCP),
                true,
                (Ok(ToResolver), Err(ResolverNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(LOOPBACK, Some(53), UDP),
                false,
                (Ok(ToResolver), Err(ResolverNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(LOOPBACK, Some(53), UDP),
                true,
                (Ok(ToResolver), Err(ResolverNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(DNS, None, UDP),
                true,
                same(Err(ProtocolNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(DNS, Some(54), UDP),
                true,
                same(Err(ProtocolNotAllowed)),
            ),
            // The task's resolver, on the node's loopback, and nothing else there.
            case(
                Mode::Http,
                flow(LOOPBACK, Some(RESOLVER_PORT), UDP),
                true,
                same(Ok(OwnResolver)),
            ),
            case(
                Mode::Http,
                flow(LOOPBACK, Some(RESOLVER_PORT), TCP),
                true,
                same(Ok(OwnResolver)),
            ),
            case(
                Mode::Http,
                flow(LOOPBACK, Some(RESOLVER_PORT + 1), UDP),
                true,
                same(Err(HostLoopback)),
            ),
            case(
                Mode::Http,
                flow(LOOPBACK, Some(80), TCP),
                true,
                same(Err(HostLoopback)),
            ),
            // A retired address: open connections keep going, new ones are refused.
            case(
                Mode::Http,
                flow(RETIRED, Some(80), TCP),
                true,
                (Err(AddressNotAllowed), Ok(AsAsked)),
            ),
            case(
                Mode::Http,
                flow(RETIRED, Some(22), TCP),
                true,
                (Err(AddressNotAllowed), Err(PortNotAllowed)),
            ),
            case(
                Mode::Http,
                flow(NODE, Some(80), TCP),
                true,
                same(Err(NodeAddress)),
            ),
            case(
                Mode::Http,
                flow(NODE, Some(80), TCP),
                false,
                same(Err(NodeAddress)),
            ),
        ];
        for (mode, flow, in_host_netns, destination, packet) in cases {
            let book = Book {
                in_host_netns: *in_host_netns,
            };
            let cfg = cfg(*mode);
            let at = |judged| judge(&cfg, flow, &book, judged);
            assert_eq!(
                at(Judged::Destination),
                *destination,
                "{mode:?} {flow:?} destination"
            );
            assert_eq!(at(Judged::Packet), *packet, "{mode:?} {flow:?} packet");
        }
    }

    #[test]
    fn mapped_ipv6_is_judged_as_ipv4() {
        let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 9];
        assert_eq!(Addr::from_v6(mapped), OTHER);
        let f = flow(Addr::from_v6(mapped), Some(80), proto::TCP);
        assert_eq!(
            judge(&cfg(Mode::Http), &f, &HOST_BOOK, Judged::Destination),
            Err(Reason::AddressNotAllowed)
        );
    }

    #[test]
    fn unknown_mode_fails_closed() {
        let mut c = cfg(Mode::Full);
        c.mode = 77;
        let f = flow(ALLOWED, Some(80), proto::TCP);
        assert_eq!(
            judge(&c, &f, &HOST_BOOK, Judged::Packet),
            Err(Reason::NetworkNone)
        );
    }

    #[test]
    fn zeroed_storage_is_the_closed_config_and_refuses_everything() {
        // SAFETY: TaskConfig is plain integers; all zeroes is what a new cgroup storage holds.
        let zeroed: TaskConfig = unsafe { core::mem::zeroed() };
        assert_eq!(zeroed, TaskConfig::CLOSED);
        for judged in [Judged::Destination, Judged::Packet] {
            for to in [ALLOWED, LOOPBACK] {
                let f = flow(to, Some(80), proto::TCP);
                // Whatever namespace the socket is in: the host's is not known yet.
                for book in [&HOST_BOOK, &OWN_NETNS_BOOK] {
                    assert_eq!(judge(&zeroed, &f, book, judged), Err(Reason::NetworkNone));
                }
            }
        }
    }

    #[test]
    fn another_tasks_resolver_on_a_shared_loopback_is_refused_in_every_restricted_mode() {
        for mode in [Mode::None, Mode::Http] {
            for judged in [Judged::Destination, Judged::Packet] {
                let theirs = flow(LOOPBACK, Some(ANOTHERS_RESOLVER_PORT), proto::UDP);
                assert_eq!(
                    judge(&cfg(mode), &theirs, &OWN_NETNS_BOOK, judged),
                    Err(Reason::ResolverNotAllowed),
                    "{mode:?}"
                );
                let own_service = flow(LOOPBACK, Some(8080), proto::TCP);
                assert_eq!(
                    judge(&cfg(mode), &own_service, &OWN_NETNS_BOOK, judged),
                    Ok(Route::AsAsked),
                    "{mode:?}"
                );
            }
        }
    }

    #[test]
    fn unspecified_addresses_count_as_loopback() {
        assert!(Addr::v4([0; 4]).is_loopback_or_unspecified());
        assert!(Addr::from_v6([0; 16]).is_loopback_or_unspecified());
        assert!(!ALLOWED6.is_loopback_or_unspecified());
    }

    #[test]
    fn loopback_is_127_8_and_colon_colon_1_only() {
        assert!(Addr::v4([127, 9, 9, 9]).is_loopback_or_unspecified());
        assert!(!Addr::v4([128, 0, 0, 1]).is_loopback_or_unspecified());
        assert!(!Addr::v4([1, 0, 0, 127]).is_loopback_or_unspecified());
        assert!(LOOPBACK6.is_loopback_or_unspecified());
        let mut two = [0; 16];
        two[15] = 2;
        assert!(!Addr::from_v6(two).is_loopback_or_unspecified());
        let mut high = [0; 16];
        high[0] = 1;
        high[15] = 1;
        assert!(!Addr::from_v6(high).is_loopback_or_unspecified());
    }

    #[test]
    fn an_address_keeps_its_bytes_in_network_order() {
        let v6 = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
        ];
        assert_eq!(Addr::from_v6(v6).octets(), v6);
        assert!(!Addr::from_v6(v6).is_v4);
        let v4 = Addr::v4([192, 0, 2, 7]);
        assert_eq!(v4.v4_octets(), [192, 0, 2, 7]);
        assert_eq!(v4.octets()[..4], [192, 0, 2, 7]);
        assert_eq!(v4.octets()[4..], [0; 12]);
    }
}
