//! The maps every task shares, and the [`AddressBook`] view of one task's part of them that
//! `judge` reads. Shared maps are pinned by name under the program set's directory, so a
//! restarted agent loads its programs onto the same maps.

use aya_ebpf::{
    bindings::{bpf_sock, bpf_sock_tuple, BPF_F_NO_PREALLOC},
    helpers::generated::{
        bpf_get_netns_cookie, bpf_sk_lookup_tcp, bpf_sk_lookup_udp, bpf_sk_release,
    },
    macros::map,
    maps::{lpm_trie::Key, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
    EbpfContext,
};
use enforcer_common::{
    policy::listed, proto, Addr, AddressBook, CounterSlots, OriginalDst, ResolverAddr, ResolverKey,
    ResolverPortKey, TaskAddr, ALLOWLIST_CAPACITY, EVENT_RING_BYTES, NETS_CAPACITY,
    RESOLVER_CAPACITY, RESOLVER_MARK, STEERED_SOCKETS_CAPACITY, TASK_PREFIX_BITS,
};

/// Single addresses each task may reach on its HTTP ports, and the node's own addresses
/// marked as such (values from `enforcer_common::listed`). Most of an allowlist is single
/// addresses (resolved names), and a hash lookup costs a fraction of a trie walk.
/// Not preallocated: memory is paid for the entries there are, not for the capacity.
#[map]
pub static ALLOW_HOSTS_V4: HashMap<TaskAddr<4>, u8> =
    HashMap::pinned(ALLOWLIST_CAPACITY, BPF_F_NO_PREALLOC);
#[map]
pub static ALLOW_HOSTS_V6: HashMap<TaskAddr<16>, u8> =
    HashMap::pinned(ALLOWLIST_CAPACITY, BPF_F_NO_PREALLOC);
/// CIDRs each task may reach on its HTTP ports, consulted when no single address matched.
#[map]
pub static ALLOW_NETS_V4: LpmTrie<TaskAddr<4>, u8> =
    LpmTrie::pinned(NETS_CAPACITY, BPF_F_NO_PREALLOC);
#[map]
pub static ALLOW_NETS_V6: LpmTrie<TaskAddr<16>, u8> =
    LpmTrie::pinned(NETS_CAPACITY, BPF_F_NO_PREALLOC);
/// Each task's resolver in each network namespace it has one in. DNS from a namespace not
/// listed for the task is refused.
#[map]
pub static RESOLVERS: HashMap<ResolverKey, ResolverAddr> =
    HashMap::pinned(RESOLVER_CAPACITY, BPF_F_NO_PREALLOC);
/// Every resolver's ports on the loopback of its namespace, with the task it is for: a task
/// sharing that loopback may not reach another's resolver.
#[map]
pub static RESOLVER_PORTS: HashMap<ResolverPortKey, u32> =
    HashMap::pinned(2 * RESOLVER_CAPACITY, BPF_F_NO_PREALLOC);
/// What each steered socket asked for, keyed by socket cookie, to restore in replies. Least
/// recently used entries make room: a stub that loses its entry sees the resolver's address
/// and drops the reply (its own loss, never an opening).
#[map]
pub static DNS_ORIGINAL: LruHashMap<u64, OriginalDst> =
    LruHashMap::pinned(STEERED_SOCKETS_CAPACITY, 0);

/// Each task's counters, per CPU, at the index its settings name (`counter_index`). Sized
/// by the loader: one entry per task the set may hold, plus entry 0.
#[map]
pub static COUNTERS: PerCpuArray<CounterSlots> = PerCpuArray::pinned(1, 0);

/// Denial events of every task for userspace, each naming its task.
#[map]
pub static EVENTS: RingBuf = RingBuf::pinned(EVENT_RING_BYTES, 0);

/// One task's address sets as `judge` sees them, and where the socket lives.
pub struct TaskMaps<'a, C: EbpfContext> {
    /// The program's context, for `bpf_get_netns_cookie`.
    pub ctx: &'a C,
    pub task: u32,
    pub host_netns_cookie: u64,
}

impl<C: EbpfContext> AddressBook for TaskMaps<'_, C> {
    #[inline(always)]
    fn listed(&self, addr: &Addr) -> u8 {
        let host = if addr.is_v4 {
            ALLOW_HOSTS_V4.get_ptr(TaskAddr::new(self.task, addr.v4_octets()))
        } else {
            ALLOW_HOSTS_V6.get_ptr(TaskAddr::new(self.task, addr.octets()))
        };
        if let Some(value) = host {
            // SAFETY: a value pointer from a lookup, read at once.
            return unsafe { *value };
        }
        let net = if addr.is_v4 {
            ALLOW_NETS_V4.get(Key::new(
                TASK_PREFIX_BITS + 32,
                TaskAddr::new(self.task, addr.v4_octets()),
            ))
        } else {
            ALLOW_NETS_V6.get(Key::new(
                TASK_PREFIX_BITS + 128,
                TaskAddr::new(self.task, addr.octets()),
            ))
        };
        net.copied().unwrap_or(listed::NO)
    }

    #[inline(always)]
    fn is_resolver(&self, addr: &Addr, port: u16) -> bool {
        resolver_here(self.ctx, self.task).is_some_and(|r| r.is(addr, port))
    }

    #[inline(always)]
    fn in_host_netns(&self) -> bool {
        netns_cookie(self.ctx) == self.host_netns_cookie
    }

    #[inline(always)]
    fn is_anothers_resolver(&self, port: u16) -> bool {
        let key = ResolverPortKey::new(netns_cookie(self.ctx), port);
        // SAFETY: a value pointer from a lookup, read at once.
        unsafe { RESOLVER_PORTS.get(key) }.is_some_and(|owner| *owner != self.task)
    }
}

/// Cookie of the network namespace the program's socket lives in.
#[inline(always)]
fn netns_cookie<C: EbpfContext>(ctx: &C) -> u64 {
    // SAFETY: helper allowed for sock_addr, sock and (since 6.x) cgroup_skb programs.
    unsafe { bpf_get_netns_cookie(ctx.as_ptr()) }
}

/// Whether some task's resolver listens on `port` in the namespace of the program's socket.
#[inline(always)]
pub fn is_resolver_port<C: EbpfContext>(ctx: &C, port: u16) -> bool {
    let key = ResolverPortKey::new(netns_cookie(ctx), port);
    // SAFETY: only whether there is a value.
    unsafe { RESOLVER_PORTS.get(key) }.is_some()
}

/// The task's resolver in the namespace of the program's socket, if it has one there.
#[inline(always)]
pub fn resolver_here<C: EbpfContext>(ctx: &C, task: u32) -> Option<ResolverAddr> {
    let key = ResolverKey::new(task, netns_cookie(ctx));
    // SAFETY: a value pointer from a lookup, copied at once.
    unsafe { RESOLVERS.get(key).copied() }
}

/// `BPF_F_CURRENT_NETNS`: look sockets up in the namespace of the program's socket.
const CURRENT_NETNS: u64 = u64::MAX;

/// Whether the socket that gets `protocol` traffic sent to `resolver` (its IPv6 side when
/// `v6`) in the namespace of the program's socket is the resolver's own, by its mark.
/// Nobody listening, or somebody else: no.
#[inline(always)]
pub fn resolver_listens<C: EbpfContext>(
    ctx: &C,
    resolver: &ResolverAddr,
    v6: bool,
    protocol: u8,
) -> bool {
    // SAFETY: a zeroed tuple is a valid one; the union's member is picked by `v6`.
    let mut tuple: bpf_sock_tuple = unsafe { core::mem::zeroed() };
    let size = unsafe {
        if v6 {
            let t = &mut tuple.__bindgen_anon_1.ipv6;
            t.daddr = resolver.ip6;
            t.dport = resolver.port6 as u16;
            core::mem::size_of_val(t)
        } else {
            let t = &mut tuple.__bindgen_anon_1.ipv4;
            t.daddr = resolver.ip4;
            t.dport = resolver.port4 as u16;
            core::mem::size_of_val(t)
        }
    } as u32;
    // SAFETY: helpers allowed for sock_addr programs; a socket found is released at once.
    unsafe {
        let sk: *mut bpf_sock = if protocol == proto::TCP {
            bpf_sk_lookup_tcp(ctx.as_ptr(), &mut tuple, size, CURRENT_NETNS, 0)
        } else {
            bpf_sk_lookup_udp(ctx.as_ptr(), &mut tuple, size, CURRENT_NETNS, 0)
        };
        if sk.is_null() {
            return false;
        }
        let mark = (*sk).mark;
        bpf_sk_release(sk.cast());
        mark == RESOLVER_MARK
    }
}
