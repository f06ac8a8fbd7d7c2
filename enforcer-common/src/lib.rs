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

/// Capacity of the per-task allowlists of single addresses (per family).
pub const ALLOWLIST_CAPACITY: u32 = 65_536;
/// Capacity of the per-task allowlists of CIDRs (per family).
pub const NETS_CAPACITY: u32 = 4_096;
/// Network namespaces a task may have a resolver in.
pub const RESOLVER_CAPACITY: u32 = 64;
/// Sockets whose steered DNS destination is remembered (least recently used go first).
pub const STEERED_SOCKETS_CAPACITY: u32 = 4_096;
/// Size of the denial-event ring buffer in bytes (a power of two, page multiple).
pub const EVENT_RING_BYTES: u32 = 256 * 1024;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` structs of integers, no padding holes that matter.
    unsafe impl aya::Pod for crate::TaskConfig {}
    unsafe impl aya::Pod for crate::DenyEvent {}
    unsafe impl aya::Pod for crate::ResolverAddr {}
    unsafe impl aya::Pod for crate::OriginalDst {}
}
