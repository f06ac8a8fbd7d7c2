//! The enforcer's kernel programs. One set is loaded and attached to the cgroup of every
//! task; each task's settings live in its cgroup's storage (`storage.rs`) and its address
//! sets and resolvers in the shared maps of `maps.rs`, keyed by the task's number, which
//! userspace changes while it runs.
//!
//! Every hook fails closed: when anything can't be read, the flow is refused.
// Host builds (clippy, `cargo build --workspace`) get std and an empty main.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

mod maps;
mod report;
mod storage;

use aya_ebpf::{
    bindings::bpf_sock_addr,
    helpers::generated::{bpf_get_current_cgroup_id, bpf_get_socket_cookie, bpf_skb_cgroup_id},
    macros::{cgroup_skb, cgroup_sock, cgroup_sock_addr, cgroup_sockopt},
    programs::{SkBuffContext, SockAddrContext, SockContext, SockoptContext},
    EbpfContext,
};
use aya_log_ebpf::debug;
use enforcer_common::{
    judge, proto, refuses_sockopt,
    sockopt::{SOL_IPV6, SOL_SOCKET},
    Addr, Counter, Flow, Hook, Judged, Mode, OriginalDst, Reason, Route, TaskConfig,
};

use maps::{is_resolver_port, resolver_here, resolver_listens, TaskMaps, DNS_ORIGINAL};
use report::{count, current_sender, report, Sender};
use storage::task_config as config;

/// Program return values: let the operation through, or refuse it (EPERM / drop).
const ALLOW: i32 = 1;
const REFUSE: i32 = 0;

const SOCK_DGRAM: u32 = 2;
const SOCK_RAW: u32 = 3;
const AF_INET6: u32 = 10;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

#[cgroup_sock_addr(connect4)]
pub fn connect4(ctx: SockAddrContext) -> i32 {
    on_sock_addr(&ctx, Hook::Connect4)
}

#[cgroup_sock_addr(connect6)]
pub fn connect6(ctx: SockAddrContext) -> i32 {
    on_sock_addr(&ctx, Hook::Connect6)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn sendmsg4(ctx: SockAddrContext) -> i32 {
    on_sock_addr(&ctx, Hook::Sendmsg4)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn sendmsg6(ctx: SockAddrContext) -> i32 {
    on_sock_addr(&ctx, Hook::Sendmsg6)
}

/// connect() and unconnected sendto()/sendmsg(): refused at once with EPERM, or (DNS in
/// HTTP mode) steered to the task's resolver.
#[inline(always)]
fn on_sock_addr(ctx: &SockAddrContext, hook: Hook) -> i32 {
    let cfg = config();
    let is_connect = matches!(hook, Hook::Connect4 | Hook::Connect6);
    let (allowed, denied) = if is_connect {
        (Counter::ConnectAllowed, Counter::ConnectDenied)
    } else {
        (Counter::SendmsgAllowed, Counter::SendmsgDenied)
    };
    if let Mode::Full = Mode::from_raw(cfg.mode) {
        count(cfg, allowed);
        return ALLOW;
    }
    let sa = ctx.sock_addr;
    let v6 = matches!(hook, Hook::Connect6 | Hook::Sendmsg6);
    let flow = Flow {
        addr: destination(sa, v6),
        // SAFETY: ctx fields of bpf_sock_addr, read with their own width.
        port: u16::from_be(unsafe { (*sa).user_port } as u16),
        has_port: true,
        protocol: unsafe { (*sa).protocol } as u8,
    };
    let book = TaskMaps {
        ctx,
        task: cfg.task,
        host_netns_cookie: cfg.host_netns_cookie,
    };
    let verdict = match judge(cfg, &flow, &book, Judged::Destination) {
        Ok(Route::ToResolver) => steer_to_resolver(ctx, cfg, v6, &flow),
        Ok(Route::OwnResolver) => check_resolver_listens(ctx, cfg, &flow),
        Ok(Route::AsAsked) => Ok(()),
        Err(reason) => Err(reason),
    };
    match verdict {
        Ok(()) => {
            count(cfg, allowed);
            ALLOW
        }
        Err(reason) => {
            count(cfg, denied);
            report(cfg, hook, reason, &flow, &current_sender());
            debug!(ctx, "refused {} reason {}", hook as u8, reason as u8);
            REFUSE
        }
    }
}

/// A flow to the task's own resolver, which it named itself, goes there only while the
/// resolver's socket holds the port.
#[inline(always)]
fn check_resolver_listens<C: EbpfContext>(
    ctx: &C,
    cfg: &TaskConfig,
    flow: &Flow,
) -> Result<(), Reason> {
    match resolver_here(ctx, cfg.task) {
        Some(resolver) if resolver_listens(ctx, &resolver, !flow.addr.is_v4, flow.protocol) => {
            Ok(())
        }
        _ => Err(Reason::NoResolver),
    }
}

/// Rewrites the destination to the task's resolver in this socket's network namespace,
/// remembering what the task asked for so replies can name it. No resolver there, or no
/// room to remember: refused.
#[inline(always)]
fn steer_to_resolver(
    ctx: &SockAddrContext,
    cfg: &TaskConfig,
    v6: bool,
    flow: &Flow,
) -> Result<(), Reason> {
    let resolver = resolver_here(ctx, cfg.task).ok_or(Reason::NoResolver)?;
    let sa = ctx.sock_addr;
    // A v6 socket aiming at ::ffff:a.b.c.d reaches IPv4: steer it to the IPv4 resolver.
    let to_v6 = v6 && !flow.addr.is_v4;
    let port = if to_v6 {
        resolver.port6
    } else {
        resolver.port4
    };
    if port == 0 || !resolver_listens(ctx, &resolver, to_v6, flow.protocol) {
        return Err(Reason::NoResolver);
    }
    let mut original = OriginalDst::default();
    // SAFETY: ctx fields, each accessed as the u32 the verifier expects for this hook's family.
    unsafe {
        if v6 {
            original.ip6 = read_ip6(sa);
        } else {
            original.ip4 = core::ptr::read_volatile(&(*sa).user_ip4);
        }
        original.port = (*sa).user_port;
        let cookie = bpf_get_socket_cookie(sa.cast());
        DNS_ORIGINAL
            .insert(cookie, original, 0)
            .map_err(|_| Reason::NoResolver)?;
        if !v6 {
            (*sa).user_ip4 = resolver.ip4;
        } else if flow.addr.is_v4 {
            write_ip6(sa, resolver.ip4_mapped());
        } else {
            write_ip6(sa, resolver.ip6);
        }
        (*sa).user_port = port;
    }
    count(cfg, Counter::DnsSteered);
    Ok(())
}

#[cgroup_sock_addr(bind4)]
pub fn bind4(ctx: SockAddrContext) -> i32 {
    on_bind(&ctx, Hook::Bind4)
}

#[cgroup_sock_addr(bind6)]
pub fn bind6(ctx: SockAddrContext) -> i32 {
    on_bind(&ctx, Hook::Bind6)
}

/// bind(): no task may take a port a resolver listens on in its network namespace, any
/// address, any task's. While the agent is down nothing holds those ports, and whoever took
/// one would hear the task's DNS and talk with it there. Other binds need no settings.
#[inline(always)]
fn on_bind(ctx: &SockAddrContext, hook: Hook) -> i32 {
    let sa = ctx.sock_addr;
    // SAFETY: ctx fields of bpf_sock_addr, read with their own width.
    let port = u16::from_be(unsafe { (*sa).user_port } as u16);
    if port == 0 || !is_resolver_port(ctx, port) {
        return ALLOW;
    }
    let cfg = config();
    count(cfg, Counter::SocketsDenied);
    let flow = Flow {
        addr: destination(sa, hook == Hook::Bind6),
        port,
        has_port: true,
        // SAFETY: as above.
        protocol: unsafe { (*sa).protocol } as u8,
    };
    report(cfg, hook, Reason::ResolverPort, &flow, &current_sender());
    REFUSE
}

#[cgroup_sock_addr(recvmsg4)]
pub fn recvmsg4(ctx: SockAddrContext) -> i32 {
    restore_resolver_peer(&ctx, false);
    ALLOW
}

#[cgroup_sock_addr(recvmsg6)]
pub fn recvmsg6(ctx: SockAddrContext) -> i32 {
    restore_resolver_peer(&ctx, true);
    ALLOW
}

#[cgroup_sock_addr(getpeername4)]
pub fn getpeername4(ctx: SockAddrContext) -> i32 {
    restore_resolver_peer(&ctx, false);
    ALLOW
}

#[cgroup_sock_addr(getpeername6)]
pub fn getpeername6(ctx: SockAddrContext) -> i32 {
    restore_resolver_peer(&ctx, true);
    ALLOW
}

/// A reply's source (recvmsg) or a socket's peer (getpeername) that is the task's resolver
/// is reported as the server the task asked for, so stub resolvers that check it accept
/// the reply.
#[inline(always)]
fn restore_resolver_peer(ctx: &SockAddrContext, v6: bool) {
    let sa = ctx.sock_addr;
    let peer = destination(sa, v6);
    // The resolver is always on loopback: any other peer needs neither settings nor lookup.
    if !peer.is_loopback_or_unspecified() {
        return;
    }
    let Some(resolver) = resolver_here(ctx, config().task) else {
        return;
    };
    // SAFETY: ctx fields of bpf_sock_addr, read with their own width.
    let port = u16::from_be(unsafe { (*sa).user_port } as u16);
    if !resolver.is(&peer, port) {
        return;
    }
    // SAFETY: cookie of the context's socket; ctx fields written as u32 for this family.
    unsafe {
        let cookie = bpf_get_socket_cookie(sa.cast());
        let Some(original) = DNS_ORIGINAL.get(cookie).copied() else {
            return;
        };
        if v6 {
            write_ip6(sa, original.ip6);
        } else {
            (*sa).user_ip4 = original.ip4;
        }
        (*sa).user_port = original.port;
    }
}

/// `user_ip6` as the four u32 words the verifier lets us read.
///
/// # Safety
/// `sa` is the context of an IPv6 sock_addr hook.
#[inline(always)]
unsafe fn read_ip6(sa: *mut bpf_sock_addr) -> [u32; 4] {
    let words = core::ptr::addr_of!((*sa).user_ip6) as *const u32;
    let mut out = [0u32; 4];
    for (i, word) in out.iter_mut().enumerate() {
        *word = core::ptr::read_volatile(words.add(i));
    }
    out
}

/// Writes `user_ip6` word by word, as the verifier requires.
///
/// # Safety
/// `sa` is the context of an IPv6 sock_addr hook.
#[inline(always)]
unsafe fn write_ip6(sa: *mut bpf_sock_addr, ip6: [u32; 4]) {
    let words = core::ptr::addr_of_mut!((*sa).user_ip6) as *mut u32;
    for (i, word) in ip6.iter().enumerate() {
        core::ptr::write_volatile(words.add(i), *word);
    }
}

#[inline(always)]
fn destination(sa: *mut bpf_sock_addr, v6: bool) -> Addr {
    // SAFETY: ctx fields, each read as the u32 the verifier expects.
    unsafe {
        if v6 {
            Addr::from_v6_words(read_ip6(sa))
        } else {
            Addr::v4_word(core::ptr::read_volatile(&(*sa).user_ip4))
        }
    }
}

/// Socket creation: no raw or ping sockets outside Full. The socket is looked at first:
/// most are neither and allowed in every mode, so their run needs no settings (finding them
/// is a helper call, some 20-30 ns).
#[cgroup_sock(sock_create)]
pub fn sock_create(ctx: SockContext) -> i32 {
    let sk = ctx.sock;
    // SAFETY: ctx fields of bpf_sock readable at sock_create.
    let (family, sock_type, protocol) = unsafe { ((*sk).family, (*sk).type_, (*sk).protocol) };
    let reason = if sock_type == SOCK_RAW {
        Reason::RawSocket
    } else if sock_type == SOCK_DGRAM
        && (protocol == proto::ICMP as u32 || protocol == proto::ICMPV6 as u32)
    {
        Reason::PingSocket
    } else {
        return ALLOW;
    };
    let cfg = config();
    if let Mode::Full = Mode::from_raw(cfg.mode) {
        return ALLOW;
    }
    count(cfg, Counter::SocketsDenied);
    let protocol = if reason == Reason::RawSocket {
        proto::RAW
    } else {
        protocol as u8
    };
    let flow = no_destination(family == AF_INET6, protocol);
    report(cfg, Hook::SockCreate, reason, &flow, &current_sender());
    REFUSE
}

/// setsockopt(): no multicast or anycast membership outside Full. The kernel announces a
/// membership (IGMP, MLD) from timers with no owning socket, which egress never judges. No
/// socket mark either: the resolvers' would make a socket pass for one.
#[cgroup_sockopt(setsockopt)]
pub fn setsockopt(ctx: SockoptContext) -> i32 {
    // The option first: others are allowed in every mode, without finding the settings.
    let opt = ctx.sockopt;
    // SAFETY: ctx fields of bpf_sockopt readable at setsockopt.
    let (level, optname) = unsafe { ((*opt).level, (*opt).optname) };
    if !refuses_sockopt(level, optname) {
        // Left alone (optlen untouched): the kernel handles the option as if we were not here.
        return ALLOW;
    }
    let cfg = config();
    if let Mode::Full = Mode::from_raw(cfg.mode) {
        return ALLOW;
    }
    count(cfg, Counter::SockoptDenied);
    // SAFETY: `sk` of a setsockopt context is a valid socket, never null.
    let (protocol, family) = unsafe {
        let sk = (*opt).__bindgen_anon_1.sk;
        ((*sk).protocol as u8, (*sk).family)
    };
    let (reason, v6) = if level == SOL_SOCKET {
        (Reason::SocketMark, family == AF_INET6)
    } else {
        (Reason::MulticastMembership, level == SOL_IPV6)
    };
    let flow = no_destination(v6, protocol);
    report(cfg, Hook::Setsockopt, reason, &flow, &current_sender());
    REFUSE
}

/// The flow of a refusal that judged a socket, not a destination: family and protocol only.
#[inline(always)]
fn no_destination(v6: bool, protocol: u8) -> Flow {
    Flow {
        addr: if v6 {
            Addr::from_v6([0; 16])
        } else {
            Addr::v4([0; 4])
        },
        port: 0,
        has_port: false,
        protocol,
    }
}

/// Every packet the task's sockets send: the backstop behind the sock_addr hooks.
#[cgroup_skb(egress)]
pub fn egress(ctx: SkBuffContext) -> i32 {
    let cfg = config();
    if let Mode::Full = Mode::from_raw(cfg.mode) {
        count(cfg, Counter::PacketsAllowed);
        return ALLOW;
    }
    let mut flow = Flow {
        addr: Addr::v4([0; 4]),
        port: 0,
        has_port: false,
        protocol: 0,
    };
    if parse_packet(&ctx, &mut flow).is_none() {
        count(cfg, Counter::PacketsDenied);
        return REFUSE;
    }
    let book = TaskMaps {
        ctx: &ctx,
        task: cfg.task,
        host_netns_cookie: cfg.host_netns_cookie,
    };
    // A packet to the task's resolver, on a socket connected to it before whoever holds the
    // port now took it, is checked as a connect would be.
    let verdict = match judge(cfg, &flow, &book, Judged::Packet) {
        Ok(Route::OwnResolver) => check_resolver_listens(&ctx, cfg, &flow),
        Ok(_) => Ok(()),
        Err(reason) => Err(reason),
    };
    match verdict {
        Ok(()) => {
            count(cfg, Counter::PacketsAllowed);
            ALLOW
        }
        Err(reason) => {
            count(cfg, Counter::PacketsDenied);
            report(cfg, Hook::Egress, reason, &flow, &packet_sender(&ctx));
            REFUSE
        }
    }
}

/// The process sending the packet, when egress runs in its context (packets sent from
/// a system call, as the first packets of a flow are): the current task is then in the
/// socket's cgroup. Packets sent from softirq or timers (retransmits) go unnamed.
#[inline(always)]
fn packet_sender(ctx: &SkBuffContext) -> Sender {
    // SAFETY: helpers allowed for cgroup_skb.
    let same_cgroup = unsafe { bpf_get_current_cgroup_id() == bpf_skb_cgroup_id(ctx.skb.skb) };
    if same_cgroup {
        current_sender()
    } else {
        Sender::default()
    }
}

/// Fills in destination, protocol and port of an outgoing IP packet; `None` when it
/// can't be read. (An out-parameter: an `Option<Flow>` carries undefined bytes the
/// verifier refuses.)
#[inline(always)]
fn parse_packet(ctx: &SkBuffContext, flow: &mut Flow) -> Option<()> {
    let ethertype = u16::from_be(ctx.skb.protocol() as u16);
    if ethertype == ETH_P_IP {
        let header: Ipv4Header = read_packet(ctx, 0)?;
        let header_len = ((header.version_ihl & 0x0f) as usize) * 4;
        if header_len < 20 {
            return None;
        }
        let fragment_offset = u16::from_be(header.fragment) & 0x1fff;
        let protocol = header.protocol;
        flow.has_port = fragment_offset == 0 && (protocol == proto::TCP || protocol == proto::UDP);
        if flow.has_port {
            let ports: [u16; 2] = read_packet(ctx, header_len)?;
            flow.port = u16::from_be(ports[1]);
        }
        flow.addr = Addr::v4_word(header.destination);
        flow.protocol = protocol;
        Some(())
    } else if ethertype == ETH_P_IPV6 {
        // Extension headers are not walked: such packets are judged by their next header
        // and, not being TCP or UDP, refused outside Full.
        let header: Ipv6Start = read_packet(ctx, 0)?;
        let next_header = header.next_header;
        flow.has_port = next_header == proto::TCP || next_header == proto::UDP;
        flow.port = u16::from_be(header.ports[1]);
        flow.addr = Addr::from_v6_words(header.destination);
        flow.protocol = next_header;
        Some(())
    } else {
        None
    }
}

/// What egress reads of an IPv4 header (RFC 791), multi-byte fields in network order.
/// Fields at their natural alignment, so each is one load, not a byte at a time.
#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv4Header {
    version_ihl: u8,
    _tos: u8,
    _total_length: u16,
    _id: u16,
    /// Flags and fragment offset.
    fragment: u16,
    _ttl: u8,
    protocol: u8,
    _checksum: u16,
    _source: u32,
    destination: u32,
}

/// An IPv6 header (RFC 8200) and the port words of a TCP or UDP header right after it.
#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6Start {
    _version_class_flow: u32,
    _payload_length: u16,
    next_header: u8,
    _hop_limit: u8,
    _source: [u32; 4],
    destination: [u32; 4],
    /// Source and destination port.
    ports: [u16; 2],
}

/// A `T` from the packet at `offset` (from the network header): read in place when it is
/// in the linear part, as headers of locally sent packets are, else copied out by the
/// kernel (a helper call, slower).
#[inline(always)]
fn read_packet<T: Copy>(ctx: &SkBuffContext, offset: usize) -> Option<T> {
    // SAFETY: data/data_end are readable in cgroup_skb; the bounds check below is the one
    // the verifier needs before the read. Headers of packets sent from this host start
    // aligned; where they might not be, the verifier allows the loads only on machines
    // that do unaligned loads (x86, arm64), and elsewhere refuses the program: no task runs.
    unsafe {
        let data = (*ctx.skb.skb).data as usize;
        let data_end = (*ctx.skb.skb).data_end as usize;
        if offset <= 64 && data + offset + core::mem::size_of::<T>() <= data_end {
            return Some(core::ptr::read((data + offset) as *const T));
        }
    }
    ctx.load(offset).ok()
}

#[link_section = "license"]
#[used]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
