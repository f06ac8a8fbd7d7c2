//! Types shared by the enforcer's kernel programs and its userspace loader, and the
//! one policy decision both sides must agree on ([`judge`]).
//!
//! `#![no_std]` so the eBPF crate can use it; the `user` feature adds `aya::Pod` impls.
#![no_std]

pub mod event;
pub mod policy;
pub mod redirect;
pub mod sockopt;

pub use event::{Counter, DenyEvent, Hook, COUNTER_SLOTS};
pub use policy::{
    judge, Addr, AddressBook, Flow, Judged, Mode, Reason, Route, TaskConfig, MAX_HTTP_PORTS,
};
pub use redirect::{OriginalDst, ResolverAddr};
pub use sockopt::refuses_sockopt;

/// IP protocol numbers the programs look at.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    /// Marks a raw socket in a [`crate::DenyEvent`] (not a real protocol number).
    pub const RAW: u8 = 255;
}

/// Port of DNS, the only UDP service an HTTP-mode task may reach.
pub const DNS_PORT: u16 = 53;

/// The mark (`SO_MARK`) of the task resolvers' sockets: DNS goes to a resolver's port only
/// while the socket there carries it, so whoever else took the port (while the agent is
/// down) gets none. Setting a mark takes CAP_NET_ADMIN or CAP_NET_RAW, and None and HTTP
/// tasks may not. Its low bits keep clear of kube-proxy's (0x4000, 0x8000) and Cilium's
/// (0x0f00): it rides on the resolvers' replies.
pub const RESOLVER_MARK: u32 = 0x656e_2072;

/// Capacity of the allowlists of single addresses (per family), shared by every task of one
/// program set; the loader may set another.
pub const ALLOWLIST_CAPACITY: u32 = 262_144;
/// Capacity of the allowlists of CIDRs (per family), shared by every task.
pub const NETS_CAPACITY: u32 = 65_536;
/// (task, network namespace) pairs with a resolver.
pub const RESOLVER_CAPACITY: u32 = 16_384;
/// Sockets whose steered DNS destination is remembered (least recently used go first).
pub const STEERED_SOCKETS_CAPACITY: u32 = 65_536;
/// Size of the denial-event ring buffer in bytes (a power of two, page multiple).
pub const EVENT_RING_BYTES: u32 = 1024 * 1024;

/// A task's entry for one address or network in the shared allowlist maps: the task's
/// number (so one map holds every task's list) then the address, network order. As an
/// LPM trie key the prefix length counts the task's 32 bits too, so a task's networks
/// never match another task's.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskAddr<const N: usize> {
    pub task: [u8; 4],
    pub addr: [u8; N],
}

impl<const N: usize> TaskAddr<N> {
    pub const fn new(task: u32, addr: [u8; N]) -> TaskAddr<N> {
        // Aligned to 4 so keys are built a word at a time; no padding, as the maps expect.
        const { assert!(N.is_multiple_of(4)) };
        TaskAddr {
            task: task.to_be_bytes(),
            addr,
        }
    }

    /// The task number.
    pub const fn task(&self) -> u32 {
        u32::from_be_bytes(self.task)
    }
}

/// Bits of a [`TaskAddr`] trie key taken by the task number.
pub const TASK_PREFIX_BITS: u32 = 32;

/// The key of `RESOLVERS`: a task's resolver in one network namespace.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResolverKey {
    pub netns_cookie: u64,
    pub task: u32,
    pub _pad: u32,
}

impl ResolverKey {
    pub const fn new(task: u32, netns_cookie: u64) -> ResolverKey {
        ResolverKey {
            netns_cookie,
            task,
            _pad: 0,
        }
    }
}

/// The key of `RESOLVER_PORTS`: a port of a resolver on the loopback of one network
/// namespace (its value: the task the resolver is for).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResolverPortKey {
    pub netns_cookie: u64,
    pub port: u32,
    pub _pad: u32,
}

impl ResolverPortKey {
    pub const fn new(netns_cookie: u64, port: u16) -> ResolverPortKey {
        ResolverPortKey {
            netns_cookie,
            port: port as u32,
            _pad: 0,
        }
    }
}

/// A task's counters: its entry of the per-CPU counters array, one slot per [`Counter`].
pub type CounterSlots = [u64; COUNTER_SLOTS as usize];

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` structs of integers, no padding holes that matter.
    unsafe impl aya::Pod for crate::TaskConfig {}
    unsafe impl aya::Pod for crate::DenyEvent {}
    unsafe impl aya::Pod for crate::ResolverAddr {}
    unsafe impl aya::Pod for crate::OriginalDst {}
    unsafe impl<const N: usize> aya::Pod for crate::TaskAddr<N> {}
    unsafe impl aya::Pod for crate::ResolverKey {}
    unsafe impl aya::Pod for crate::ResolverPortKey {}
}
