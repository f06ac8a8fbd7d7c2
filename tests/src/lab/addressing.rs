//! Names and addresses of lab number `i`, all derived from the index.
//!
//! IPv6 addresses carry the index's decimal digits in their fourth group
//! (lab 12 is `fd13:0:0:12::/64`), so they read like the IPv4 ones
//! (`10.213.12.0/24`).

use std::net::{Ipv4Addr, Ipv6Addr};

/// How many labs can exist at once; their indices are `1..=MAX_LABS`, the
/// third byte of each lab's IPv4 network.
pub(crate) const MAX_LABS: usize = 250;

/// The index of lab slot `slot`, counting round the 1..=MAX_LABS ring.
pub(crate) fn index_of_slot(slot: usize) -> u8 {
    u8::try_from(slot % MAX_LABS + 1).expect("MAX_LABS fits in a byte")
}

/// Where `ip netns` keeps named network namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// Prefix of every lab's network namespace name.
pub(crate) const NETNS_PREFIX: &str = "enf-lab-";

/// Last address byte / group of the host side of the veth pair.
pub(crate) const GATEWAY: u8 = 1;

/// Last address byte / group of the lab hosts, in `Lab::host(n)` order.
pub(crate) const HOSTS: [u8; 3] = [2, 3, 4];

/// Network namespace (and scratch directory) name.
pub(crate) fn netns_name(i: u8) -> String {
    format!("{NETNS_PREFIX}{i}")
}

/// Host side of the veth pair.
pub(crate) fn host_link(i: u8) -> String {
    format!("enf{i}h")
}

/// Lab side of the veth pair.
pub(crate) fn lab_link(i: u8) -> String {
    format!("enf{i}l")
}

/// MAC address of the veth end whose addresses end in `last` (the lab side
/// uses that of its first host): fixed, so neighbour entries can be too.
pub(crate) fn mac(i: u8, last: u8) -> String {
    format!("02:13:00:{i:02x}:00:{last:02x}")
}

/// `10.213.<i>.<last>`.
pub(crate) fn v4(i: u8, last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 213, i, last)
}

/// `fd13:0:0:<i>::<last>`.
pub(crate) fn v6(i: u8, last: u8) -> Ipv6Addr {
    format!("fd13:0:0:{i}::{last}")
        .parse()
        .expect("decimal digits are hex digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_reads_like_v4() {
        assert_eq!(v6(250, 4).to_string(), "fd13:0:0:250::4");
        assert_eq!(v4(250, 4).to_string(), "10.213.250.4");
    }
}
