//! The task's maps, and the [`AddressBook`] view of them that `judge` reads.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    helpers::generated::bpf_get_netns_cookie,
    macros::map,
    maps::{lpm_trie::Key, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
    EbpfContext,
};
use enforcer_common::{
    policy::listed, Addr, AddressBook, OriginalDst, ResolverAddr, ALLOWLIST_CAPACITY,
    COUNTER_SLOTS, EVENT_RING_BYTES, NETS_CAPACITY, RESOLVER_CAPACITY, STEERED_SOCKETS_CAPACITY,
};

/// Single addresses the task may reach on its HTTP ports, and the node's own addresses
/// marked as such (values from `enforcer_common::listed`). Most of an allowlist is single
/// addresses (resolved names), and a hash lookup costs a fraction of a trie walk.
/// Not preallocated: a task pays memory for the entries it has, not for the capacity.
#[map]
pub static ALLOW_HOSTS_V4: HashMap<[u8; 4], u8> =
    HashMap::with_max_entries(ALLOWLIST_CAPACITY, BPF_F_NO_PREALLOC);
#[map]
pub static ALLOW_HOSTS_V6: HashMap<[u8; 16], u8> =
    HashMap::with_max_entries(ALLOWLIST_CAPACITY, BPF_F_NO_PREALLOC);
/// CIDRs the task may reach on its HTTP ports, consulted when no single address matched.
#[map]
pub static ALLOW_NETS_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(NETS_CAPACITY, 0);
#[map]
pub static ALLOW_NETS_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(NETS_CAPACITY, 0);
/// The task's resolver in each network namespace it has one in, keyed by namespace cookie.
/// DNS from a namespace not listed is refused.
#[map]
pub static RESOLVERS: HashMap<u64, ResolverAddr> = HashMap::with_max_entries(RESOLVER_CAPACITY, 0);
/// What each steered socket asked for, keyed by socket cookie, to restore in replies. Least
/// recently used entries make room: a stub that loses its entry sees the resolver's address
/// and drops the reply (its own loss, never an opening).
#[map]
pub static DNS_ORIGINAL: LruHashMap<u64, OriginalDst> =
    LruHashMap::with_max_entries(STEERED_SOCKETS_CAPACITY, 0);

/// Allowed/refused counters, one slot per `Counter`.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Denial events for userspace.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENT_RING_BYTES, 0);

/// The task's address sets as `judge` sees them, and where the socket lives.
pub struct TaskMaps<'a, C: EbpfContext> {
    /// The program's context, for `bpf_get_netns_cookie`.
    pub ctx: &'a C,
    pub host_netns_cookie: u64,
}

impl<C: EbpfContext> AddressBook for TaskMaps<'_, C> {
    #[inline(always)]
    fn listed(&self, addr: &Addr) -> u8 {
        let host = if addr.is_v4 {
            ALLOW_HOSTS_V4.get_ptr(addr.v4_octets())
        } else {
            ALLOW_HOSTS_V6.get_ptr(addr.octets)
        };
        if let Some(value) = host {
            // SAFETY: a value pointer from a lookup, read at once.
            return unsafe { *value };
        }
        let net = if addr.is_v4 {
            ALLOW_NETS_V4.get(Key::new(32, addr.v4_octets()))
        } else {
            ALLOW_NETS_V6.get(Key::new(128, addr.octets))
        };
        net.copied().unwrap_or(listed::NO)
    }

    #[inline(always)]
    fn is_resolver(&self, addr: &Addr, port: u16) -> bool {
        resolver_here(self.ctx).is_some_and(|r| r.is(addr, port))
    }

    #[inline(always)]
    fn in_host_netns(&self) -> bool {
        netns_cookie(self.ctx) == self.host_netns_cookie
    }
}

/// Cookie of the network namespace the program's socket lives in.
#[inline(always)]
fn netns_cookie<C: EbpfContext>(ctx: &C) -> u64 {
    // SAFETY: helper allowed for sock_addr, sock and (since 6.x) cgroup_skb programs.
    unsafe { bpf_get_netns_cookie(ctx.as_ptr()) }
}

/// The task's resolver in the namespace of the program's socket, if it has one there.
#[inline(always)]
pub fn resolver_here<C: EbpfContext>(ctx: &C) -> Option<ResolverAddr> {
    // SAFETY: a value pointer from a lookup, copied at once.
    unsafe { RESOLVERS.get(netns_cookie(ctx)).copied() }
}
