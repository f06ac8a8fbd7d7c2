//! DNS steering: where a task's resolver listens, and what a steered socket first asked for.
//!
//! Both hold addresses and ports exactly as the `bpf_sock_addr` context carries them (network
//! order, read as native `u32`s), so the programs copy them without converting.

use crate::policy::Addr;

/// Where the enforcer's resolver for a task listens in one network namespace: always on that
/// namespace's loopback, UDP and TCP on the same port. The value of `RESOLVERS`, keyed by the
/// namespace's cookie.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolverAddr {
    /// IPv4 address as `bpf_sock_addr::user_ip4` holds it.
    pub ip4: u32,
    /// IPv6 address as `bpf_sock_addr::user_ip6` holds it.
    pub ip6: [u32; 4],
    /// Ports as `bpf_sock_addr::user_port` holds them; 0 when the family has no listener.
    pub port4: u32,
    pub port6: u32,
}

impl ResolverAddr {
    /// The resolver for `ip4`/`ip6` and host-order ports (0: none in that family).
    pub fn new(ip4: [u8; 4], ip6: [u8; 16], port4: u16, port6: u16) -> ResolverAddr {
        let mut words = [0u32; 4];
        let mut i = 0;
        while i < 4 {
            words[i] =
                u32::from_ne_bytes([ip6[i * 4], ip6[i * 4 + 1], ip6[i * 4 + 2], ip6[i * 4 + 3]]);
            i += 1;
        }
        ResolverAddr {
            ip4: u32::from_ne_bytes(ip4),
            ip6: words,
            port4: port4.to_be() as u32,
            port6: port6.to_be() as u32,
        }
    }

    /// Whether `addr`:`port` (host order) is this resolver, in either family.
    #[inline(always)]
    pub fn is(&self, addr: &Addr, port: u16) -> bool {
        if addr.is_v4 {
            self.port4 != 0 && port == u16::from_be(self.port4 as u16) && addr.words[0] == self.ip4
        } else {
            self.port6 != 0 && port == u16::from_be(self.port6 as u16) && addr.words == self.ip6
        }
    }

    /// The IPv4 resolver written as `::ffff:a.b.c.d`, for a dual-stack IPv6 socket that asked
    /// for an IPv4-mapped server.
    #[inline(always)]
    pub fn ip4_mapped(&self) -> [u32; 4] {
        [0, 0, u32::from_ne_bytes([0, 0, 0xff, 0xff]), self.ip4]
    }
}

/// The destination a steered socket asked for, restored in what `recvmsg()` and
/// `getpeername()` report so stub resolvers accept the replies. The value of `DNS_ORIGINAL`,
/// keyed by socket cookie.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OriginalDst {
    /// `user_ip4` (IPv4 socket) or `user_ip6` (IPv6 socket) as the task wrote it.
    pub ip4: u32,
    pub ip6: [u32; 4],
    /// `user_port` as the task wrote it.
    pub port: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_resolver_in_both_families() {
        let mut loopback6 = [0u8; 16];
        loopback6[15] = 1;
        let r = ResolverAddr::new([127, 0, 0, 1], loopback6, 5353, 5354);
        assert!(r.is(&Addr::v4([127, 0, 0, 1]), 5353));
        assert!(!r.is(&Addr::v4([127, 0, 0, 1]), 5354));
        assert!(!r.is(&Addr::v4([127, 0, 0, 2]), 5353));
        assert!(r.is(&Addr::from_v6(loopback6), 5354));
        assert!(!r.is(&Addr::from_v6(loopback6), 5353));
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[127, 0, 0, 1]);
        assert!(
            r.is(&Addr::from_v6(mapped), 5353),
            "v4-mapped is the v4 resolver"
        );
        let words = r.ip4_mapped();
        let mut bytes = [0u8; 16];
        for (i, word) in words.iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        assert_eq!(bytes, mapped);
    }

    #[test]
    fn a_family_without_listener_is_never_the_resolver() {
        let r = ResolverAddr::new([127, 0, 0, 1], [0; 16], 5353, 0);
        assert!(!r.is(&Addr::from_v6([0; 16]), 0));
    }
}
