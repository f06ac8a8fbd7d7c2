//! The task's maps, and the [`AddressBook`] view of them that `judge` reads.

use aya_ebpf::{
    macros::map,
    maps::{lpm_trie::Key, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use enforcer_common::{
    Addr, AddressBook, SocketOwner, ALLOWLIST_CAPACITY, COUNTER_SLOTS, EVENT_RING_BYTES,
    SMALL_SET_CAPACITY, SOCKET_OWNER_CAPACITY,
};

/// Addresses and CIDRs the task may reach on its HTTP ports (IPv4).
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
/// The node's own addresses, refused to tasks in the host's network namespace.
#[map]
pub static NODE_V4: HashMap<[u8; 4], u8> = HashMap::with_max_entries(SMALL_SET_CAPACITY, 0);
#[map]
pub static NODE_V6: HashMap<[u8; 16], u8> = HashMap::with_max_entries(SMALL_SET_CAPACITY, 0);

/// Who created each socket (by socket cookie), for hooks without process context.
#[map]
pub static SOCKET_OWNERS: LruHashMap<u64, SocketOwner> =
    LruHashMap::with_max_entries(SOCKET_OWNER_CAPACITY, 0);

/// Allowed/refused counters, one slot per `Counter`.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Denial events for userspace.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENT_RING_BYTES, 0);

/// The task's address sets as `judge` sees them.
pub struct TaskMaps;

impl AddressBook for TaskMaps {
    #[inline(always)]
    fn is_allowed(&self, addr: &Addr) -> bool {
        if addr.is_v4 {
            ALLOW_V4.get(Key::new(32, addr.v4_octets())).is_some()
        } else {
            ALLOW_V6.get(Key::new(128, addr.octets)).is_some()
        }
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
    fn is_node_address(&self, addr: &Addr) -> bool {
        if addr.is_v4 {
            NODE_V4.get_ptr(addr.v4_octets()).is_some()
        } else {
            NODE_V6.get_ptr(addr.octets).is_some()
        }
    }
}
