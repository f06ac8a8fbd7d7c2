//! Socket options refused outside Full: multicast and anycast membership, and socket marks.
//!
//! Joining a group makes the kernel send IGMP or MLD reports naming it, from timers with no
//! owning socket, so no egress hook ever judges them: a task could signal out through the
//! groups it picks. A socket with the resolvers' mark ([`crate::RESOLVER_MARK`]) would pass
//! for a resolver. Numbers from `linux/in.h`, `linux/in6.h` and `asm-generic/socket.h`.

/// Level of the socket's own options.
pub const SOL_SOCKET: i32 = 1;
const SO_MARK: i32 = 36;

/// Level of the IPv4 options.
pub const SOL_IP: i32 = 0;
/// Level of the IPv6 options.
pub const SOL_IPV6: i32 = 41;

/// `IP_ADD_MEMBERSHIP` (35) through `IP_MSFILTER` (41), then the `MCAST_*` options shared
/// by both levels, `MCAST_JOIN_GROUP` (42) through `MCAST_MSFILTER` (48).
const IP_MEMBERSHIP: core::ops::RangeInclusive<i32> = 35..=48;
const MCAST_MEMBERSHIP: core::ops::RangeInclusive<i32> = 42..=48;
const IPV6_ADD_MEMBERSHIP: i32 = 20;
const IPV6_DROP_MEMBERSHIP: i32 = 21;
const IPV6_JOIN_ANYCAST: i32 = 27;
const IPV6_LEAVE_ANYCAST: i32 = 28;

/// Whether setsockopt(`level`, `optname`) changes a group membership or the socket's mark,
/// which a task outside Full may not do. Every other option goes to the kernel unchanged.
#[inline(always)]
pub fn refuses_sockopt(level: i32, optname: i32) -> bool {
    match level {
        SOL_SOCKET => optname == SO_MARK,
        SOL_IP => IP_MEMBERSHIP.contains(&optname),
        SOL_IPV6 => {
            MCAST_MEMBERSHIP.contains(&optname)
                || matches!(
                    optname,
                    IPV6_ADD_MEMBERSHIP
                        | IPV6_DROP_MEMBERSHIP
                        | IPV6_JOIN_ANYCAST
                        | IPV6_LEAVE_ANYCAST
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_options_are_refused_at_both_levels() {
        // IP_ADD_MEMBERSHIP, IP_ADD_SOURCE_MEMBERSHIP, IP_MSFILTER, MCAST_JOIN_GROUP, MCAST_MSFILTER
        for optname in [35, 36, 39, 41, 42, 46, 48] {
            assert!(refuses_sockopt(SOL_IP, optname), "SOL_IP {optname}");
        }
        // IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP, IPV6_JOIN_ANYCAST, IPV6_LEAVE_ANYCAST, MCAST_*
        for optname in [20, 21, 27, 28, 42, 45, 48] {
            assert!(refuses_sockopt(SOL_IPV6, optname), "SOL_IPV6 {optname}");
        }
    }

    #[test]
    fn the_socket_mark_is_refused() {
        assert!(refuses_sockopt(SOL_SOCKET, 36));
        // SO_PRIORITY, SO_RCVBUF, SO_REUSEPORT
        for optname in [12, 8, 15] {
            assert!(
                !refuses_sockopt(SOL_SOCKET, optname),
                "SOL_SOCKET {optname}"
            );
        }
    }

    #[test]
    fn other_options_pass() {
        // IP_TOS, IP_MULTICAST_IF, IP_MULTICAST_LOOP, IP_MULTICAST_ALL, IP_UNICAST_IF
        for optname in [1, 32, 34, 49, 50] {
            assert!(!refuses_sockopt(SOL_IP, optname), "SOL_IP {optname}");
        }
        // IPV6_UNICAST_HOPS, IPV6_MULTICAST_IF, IPV6_MULTICAST_ALL, IPV6_V6ONLY, 41 (unused)
        for optname in [16, 17, 29, 26, 35, 41, 49] {
            assert!(!refuses_sockopt(SOL_IPV6, optname), "SOL_IPV6 {optname}");
        }
        // The same numbers at other levels (SOL_SOCKET, SOL_TCP, SOL_UDP) are other options.
        for level in [1, 6, 17] {
            for optname in [20, 21, 27, 28, 35, 42, 48] {
                assert!(!refuses_sockopt(level, optname), "level {level} {optname}");
            }
        }
    }
}
