//! The task's maps, and the [`AddressBook`] view of them that `judge` reads.

use aya_ebpf::{
    helpers::generated::bpf_get_netns_cookie,
    macros::map,
    maps::{lpm_trie::Key, HashMap, LpmTrie, PerCpuArray, RingBuf},
    EbpfContext,
};
use enforcer_common::{
    policy::listed, Addr, AddressBook, SocketOwner, ALLOWLIST_CAPACITY, COUNTER_SLOTS,
    EVENT_RING_BYTES, SMALL_SET_CAPACITY, SOCKET_OWNER_CAPACITY,
};

/// Addresses and CIDRs the task may reach on its HTTP ports, and the node's own
/// addresses marked as such (values from `enforcer_common::listed`), IPv4.
#[map]
pub static ALLOW_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(ALLOWLIST_CAPACITY, 0);
/// Addresses and CIDRs the task may reach on its HTTP ports (IPv6).
#[map]
pub static ALLOW_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(ALLOWLIST_CAPACITY, 0);
/// Resolvers the task may query on port 53.
#[map]
pub static DNS_V4: HashMap<[u8; 4], u8> = HashMap::with_max_entries(SMALL_SET_CAPACITY, 0);
#[map]
pub static DNS_V6: HashMap<[u8; 16], u8> = HashMap::with_max_entries(SMALL_SET_CAPACITY, 0);
/// Who created each live socket (by socket cookie), for events of hooks without process
/// context. Entries go at `sock_release`; when it is full, new sockets go unnamed.
#[map]
pub static SOCKET_OWNERS: HashMap<u64, SocketOwner> =
    HashMap::with_max_entries(SOCKET_OWNER_CAPACITY, 0);

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
        let value = if addr.is_v4 {
            ALLOW_V4.get(Key::new(32, addr.v4_octets()))
        } else {
            ALLOW_V6.get(Key::new(128, addr.octets))
        };
        value.copied().unwrap_or(listed::NO)
    }

    #[inline(always)]
    fn is_dns_server(&self, addr: &Addr) -> bool {
        if addr.is_v4 {
            DNS_V4.get_ptr(addr.v4_octets()).is_some()
        } else {
            DNS_V6.get_ptr(addr.octets).is_some()
        }
    }

    #[inline(always)]
    fn in_host_netns(&self) -> bool {
        // SAFETY: helper allowed for sock_addr, sock and (since 6.x) cgroup_skb programs.
        unsafe { bpf_get_netns_cookie(self.ctx.as_ptr()) == self.host_netns_cookie }
    }
}
