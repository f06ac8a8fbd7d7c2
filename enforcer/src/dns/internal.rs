//! Addresses an answer must not open: DNS rebinding onto the node's own network.
//!
//! A name the task may resolve is still controlled by whoever runs its zone, who can point it
//! at `127.0.0.1`, the cloud metadata service or the node's LAN. Such answers are dropped
//! unless the operator (or the task's own IP entries) allowed that network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::enforcement::AllowedNet;

/// Why an address in an answer may not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebindReason {
    /// An address of this node: never, whatever is allowed.
    NodeAddress,
    /// An internal address that nothing allows.
    Internal,
}

/// The rebinding policy of one task.
#[derive(Debug, Clone)]
pub struct Rebinding {
    /// Internal networks the task may reach anyway: the operator's `--allow-internal` and the
    /// task's own IP and CIDR entries.
    allow_internal: Vec<AllowedNet>,
    /// This node's addresses, canonical.
    node_addresses: Vec<IpAddr>,
}

impl Rebinding {
    pub fn new(allow_internal: Vec<AllowedNet>, node_addresses: Vec<IpAddr>) -> Rebinding {
        let node_addresses = node_addresses.iter().map(IpAddr::to_canonical).collect();
        Rebinding {
            allow_internal,
            node_addresses,
        }
    }

    /// `None` if an answer may open `ip`, else why not.
    pub fn verdict(&self, ip: IpAddr) -> Option<RebindReason> {
        let ip = ip.to_canonical();
        if self.is_node_address(ip) {
            Some(RebindReason::NodeAddress)
        } else if is_internal(ip) && !self.allows_internal(ip) {
            Some(RebindReason::Internal)
        } else {
            None
        }
    }

    /// Whether `ip`, or the IPv4 address it carries, is one of the node's.
    fn is_node_address(&self, ip: IpAddr) -> bool {
        let carried = embedded_v4(ip).map(IpAddr::V4);
        self.node_addresses
            .iter()
            .any(|&node| node == ip || Some(node) == carried)
    }

    fn allows_internal(&self, ip: IpAddr) -> bool {
        self.allow_internal.iter().any(|net| contains(net, ip))
    }
}

/// Whether `ip` points into the node's own network rather than the internet: loopback,
/// unspecified, link-local (with the metadata service 169.254.169.254), private, shared
/// (CGNAT), unique local and site-local, multicast, broadcast, and the special-purpose ranges
/// no public service uses (192.0.0.0/24, benchmarking 198.18/15, reserved 240/4). An IPv6
/// address that carries an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96` and
/// `64:ff9b:1::/48`, 6to4 `2002::/16`) is judged as that IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(IpAddr::V6(v6)) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let [_, _, c, _] = ip.octets();
    ip.is_loopback()
        || a == 0
        || ip.is_link_local()
        || ip.is_private()
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
        || ip.is_multicast()
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || first & 0xffc0 == 0xfe80
        || first & 0xffc0 == 0xfec0
        || first & 0xfe00 == 0xfc00
        || ip.is_multicast()
}

/// The IPv4 address an IPv6 one stands for: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` (RFC 6052) or `64:ff9b:1::/48` (RFC 8215, the
/// IPv4 address in the last 32 bits), which a NAT64 gateway turns into a connection to that
/// IPv4 address, or 6to4 `2002:a.b.c.d::/48`.
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    const NAT64_PREFIX: [u16; 6] = [0x64, 0xff9b, 0, 0, 0, 0];
    const LOCAL_NAT64_PREFIX: [u16; 3] = [0x64, 0xff9b, 1];
    let IpAddr::V6(v6) = ip else {
        return None;
    };
    let segments = v6.segments();
    let octets = v6.octets();
    if segments[..6] == NAT64_PREFIX || segments[..3] == LOCAL_NAT64_PREFIX {
        let [.., a, b, c, d] = octets;
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    if segments[0] == 0x2002 {
        return Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    v6.to_ipv4()
}

/// Whether `ip` is in `net` (never across address families).
fn contains(net: &AllowedNet, ip: IpAddr) -> bool {
    match (net.addr, ip) {
        (IpAddr::V4(net_addr), IpAddr::V4(ip)) => same_prefix(
            u32::from(net_addr).into(),
            u32::from(ip).into(),
            net.prefix_len,
            32,
        ),
        (IpAddr::V6(net_addr), IpAddr::V6(ip)) => {
            same_prefix(net_addr.into(), ip.into(), net.prefix_len, 128)
        }
        _ => false,
    }
}

/// Whether the first `prefix_len` of the `width` low bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, prefix_len: u8, width: u32) -> bool {
    let host_bits = width.saturating_sub(u32::from(prefix_len));
    let differing = a ^ b;
    differing.checked_shr(host_bits).unwrap_or(0) == 0
}

#[cfg(test)]
mod tests;
