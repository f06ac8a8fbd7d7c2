//! One entry of a task's `Domains`: a name, a wildcard, an IP address or a CIDR.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::{DomainProblem, SpecError};

/// Longest domain name, without the trailing dot (RFC 1035 section 2.3.4, as text).
const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 section 2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// One normalized entry of a task's `Domains`.
///
/// [`Domain::parse`] accepts, after trimming whitespace, lowercasing and dropping one trailing
/// dot:
/// - a DNS name of at least two labels (`example.com`): each label 1 to 63 characters of
///   `a-z`, `0-9` and `-`, not starting or ending with `-`; at most 253 characters; the last
///   label not all digits;
/// - a wildcard `.example.com` or `*.example.com`, which matches `example.com` itself and every
///   name below it (Bacalhau's `.example.com` meaning; `*.example.com` is the WASM executor's
///   spelling of the same thing);
/// - an IPv4 or IPv6 address (`192.0.2.1`, `2001:db8::1`), without brackets; an IPv4-mapped
///   IPv6 address (`::ffff:192.0.2.1`) is stored as the IPv4 address it reaches;
/// - a CIDR (`10.0.0.0/8`, `fd00::/8`), an extension over Bacalhau, which rejects CIDRs. The
///   address must have no bits set after the prefix; a full-length prefix (`/32`, `/128`) is
///   stored as the plain address.
///
/// Everything else is an error, notably what Bacalhau's unanchored regex lets through: URLs
/// (`http://x.com`, `x.com/a`), ports (`x.com:443`), whitespace, empty labels, underscores,
/// misplaced `*`, and dotted numbers that are no IP address (`1.2.3`, `256.1.1.1`, and IPv4
/// addresses with leading zeros such as `010.1.1.1`, which some tools read as octal).
///
/// [`Display`](fmt::Display) gives the canonical form, which parses back to the same value:
/// `example.com`, `.example.com`, `2001:db8::1`, `10.0.0.0/8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Domain {
    /// Exactly this name, e.g. `example.com`.
    Exact(String),
    /// This apex name and every name below it; `Wildcard("example.com")` is written
    /// `.example.com`.
    Wildcard(String),
    /// This address.
    Ip(IpAddr),
    /// Every address in `addr/prefix_len`; `addr` has no bits set after the prefix.
    Cidr {
        /// The network address.
        addr: IpAddr,
        /// The prefix length: 0 to 32 for IPv4, 0 to 128 for IPv6.
        prefix_len: u8,
    },
}

impl Domain {
    /// Parses and normalizes one `Domains` entry (see the type's documentation for what is
    /// accepted).
    pub fn parse(s: &str) -> Result<Domain, SpecError> {
        parse_entry(s).map_err(|problem| SpecError::InvalidDomain {
            input: s.to_owned(),
            problem,
        })
    }

    /// Whether this entry allows the DNS name `name` (compared case-insensitively, one trailing
    /// dot ignored). Address entries match no name.
    pub fn matches_name(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        match self {
            Domain::Exact(exact) => name.eq_ignore_ascii_case(exact),
            Domain::Wildcard(apex) => is_at_or_below(name, apex),
            Domain::Ip(_) | Domain::Cidr { .. } => false,
        }
    }

    /// Whether this entry allows the address `ip` directly. An IPv4-mapped IPv6 address is
    /// treated as the IPv4 address it reaches. Name entries match no address.
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match *self {
            Domain::Ip(addr) => addr == ip,
            Domain::Cidr { addr, prefix_len } => prefix_contains(addr, prefix_len, ip),
            Domain::Exact(_) | Domain::Wildcard(_) => false,
        }
    }

    /// Whether everything `other` allows is also allowed by `self` (true when they are equal).
    pub fn covers(&self, other: &Domain) -> bool {
        match (self, other) {
            (Domain::Exact(a), Domain::Exact(b)) => a == b,
            (Domain::Wildcard(apex), Domain::Exact(name) | Domain::Wildcard(name)) => {
                is_at_or_below(name, apex)
            }
            (Domain::Ip(a), Domain::Ip(b)) => a == b,
            (Domain::Ip(a), Domain::Cidr { addr, prefix_len }) => {
                a == addr && *prefix_len == max_prefix(*addr)
            }
            (Domain::Cidr { addr, prefix_len }, Domain::Ip(b)) => {
                prefix_contains(*addr, *prefix_len, *b)
            }
            (
                Domain::Cidr { addr, prefix_len },
                Domain::Cidr {
                    addr: b,
                    prefix_len: b_len,
                },
            ) => prefix_len <= b_len && prefix_contains(*addr, *prefix_len, *b),
            _ => false,
        }
    }

    /// Whether this is a name or wildcard entry (as opposed to an address or CIDR).
    pub fn is_name(&self) -> bool {
        matches!(self, Domain::Exact(_) | Domain::Wildcard(_))
    }
}

impl FromStr for Domain {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Exact(name) => f.write_str(name),
            Domain::Wildcard(apex) => write!(f, ".{apex}"),
            Domain::Ip(ip) => write!(f, "{ip}"),
            Domain::Cidr { addr, prefix_len } => write!(f, "{addr}/{prefix_len}"),
        }
    }
}

/// Names first, ordered by their labels from the right (so `foo.com`, `.foo.com` and
/// `x.foo.com` sort together, the wildcard before the exact name); then addresses and CIDRs,
/// IPv4 before IPv6, by address and then prefix length.
impl Ord for Domain {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.name_key(), other.name_key()) {
            (Some((a, a_exact)), Some((b, b_exact))) => {
                a.rsplit('.').cmp(b.rsplit('.')).then(a_exact.cmp(&b_exact))
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => self.addr_key().cmp(&other.addr_key()),
        }
    }
}

impl PartialOrd for Domain {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Domain {
    /// `(name, is_exact)` of a name entry.
    fn name_key(&self) -> Option<(&str, bool)> {
        match self {
            Domain::Exact(name) => Some((name, true)),
            Domain::Wildcard(apex) => Some((apex, false)),
            Domain::Ip(_) | Domain::Cidr { .. } => None,
        }
    }

    /// `(address, prefix length, is_plain_ip)` of an address entry; names give a dummy key.
    fn addr_key(&self) -> Option<(IpAddr, u8, bool)> {
        match *self {
            Domain::Ip(ip) => Some((ip, max_prefix(ip), true)),
            Domain::Cidr { addr, prefix_len } => Some((addr, prefix_len, false)),
            Domain::Exact(_) | Domain::Wildcard(_) => None,
        }
    }
}

impl serde::Serialize for Domain {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Domain {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Domain::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether `name` is `apex` or a name below it, ASCII case-insensitively.
fn is_at_or_below(name: &str, apex: &str) -> bool {
    let (name, apex) = (name.as_bytes(), apex.as_bytes());
    if name.len() == apex.len() {
        return name.eq_ignore_ascii_case(apex);
    }
    name.len() > apex.len()
        && name[name.len() - apex.len() - 1] == b'.'
        && name[name.len() - apex.len()..].eq_ignore_ascii_case(apex)
}

/// 32 for IPv4, 128 for IPv6.
pub(super) fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// `ip` with every bit after the first `prefix_len` cleared (`prefix_len` must be in range).
pub(super) fn network_of(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Whether `ip` is in `net/prefix_len` (never, across address families).
fn prefix_contains(net: IpAddr, prefix_len: u8, ip: IpAddr) -> bool {
    net.is_ipv4() == ip.is_ipv4()
        && prefix_len <= max_prefix(net)
        && network_of(ip, prefix_len) == net
}

/// The parser behind [`Domain::parse`].
fn parse_entry(raw: &str) -> Result<Domain, DomainProblem> {
    let s = raw.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Err(DomainProblem::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(DomainProblem::Whitespace);
    }
    if let Some((scheme, _)) = s.split_once("://") {
        return Err(DomainProblem::Scheme {
            scheme: scheme.to_owned(),
        });
    }
    if s.contains(['[', ']']) {
        return Err(DomainProblem::Brackets);
    }
    if let Some(slash) = s.find('/') {
        return match s[..slash].parse::<IpAddr>() {
            Ok(ip) => parse_cidr(ip, &s[slash + 1..]),
            Err(_) => Err(DomainProblem::Path {
                path: s[slash..].to_owned(),
            }),
        };
    }

    let body = s.strip_suffix('.').unwrap_or(&s);
    let (wildcard, name) = match body.strip_prefix("*.").or_else(|| body.strip_prefix('.')) {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    if name.is_empty() || name == "*" {
        return Err(DomainProblem::BareWildcard);
    }
    if name.contains('*') {
        return Err(DomainProblem::MisplacedWildcard);
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        if wildcard {
            return Err(DomainProblem::WildcardIp);
        }
        return Ok(Domain::Ip(ip.to_canonical()));
    }
    if name.contains(':') {
        return match name.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => Err(DomainProblem::Port {
                port: port.to_owned(),
            }),
            _ => Err(DomainProblem::InvalidIpv6),
        };
    }

    check_name(name)?;
    let name = name.to_owned();
    Ok(if wildcard {
        Domain::Wildcard(name)
    } else {
        Domain::Exact(name)
    })
}

/// Checks a lowercased DNS name without wildcard prefix or trailing dot.
fn check_name(name: &str) -> Result<(), DomainProblem> {
    if name.len() > MAX_NAME_LEN {
        return Err(DomainProblem::NameTooLong { len: name.len() });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(DomainProblem::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(DomainProblem::LabelTooLong {
                label: label.to_owned(),
            });
        }
        if let Some(ch) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(DomainProblem::InvalidChar { ch });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainProblem::HyphenEdge {
                label: label.to_owned(),
            });
        }
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainProblem::NotIpOrName);
    }
    if !name.contains('.') {
        return Err(DomainProblem::SingleLabel);
    }
    Ok(())
}

/// Parses the prefix length of a CIDR whose address is `ip`, and normalizes it.
fn parse_cidr(ip: IpAddr, prefix: &str) -> Result<Domain, DomainProblem> {
    let max = max_prefix(ip);
    let prefix_len = Some(prefix)
        .filter(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u8>().ok())
        .filter(|len| *len <= max)
        .ok_or_else(|| DomainProblem::CidrPrefix {
            prefix: prefix.to_owned(),
            max,
        })?;
    let network = network_of(ip, prefix_len);
    if network != ip {
        return Err(DomainProblem::CidrHostBits {
            network: format!("{network}/{prefix_len}"),
        });
    }
    // An IPv4-mapped IPv6 network that lies inside ::ffff:0:0/96 is that IPv4 network.
    let (addr, prefix_len) = match ip {
        IpAddr::V6(v6) if prefix_len >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix_len - 96),
            None => (ip, prefix_len),
        },
        _ => (ip, prefix_len),
    };
    Ok(if prefix_len == max_prefix(addr) {
        Domain::Ip(addr)
    } else {
        Domain::Cidr { addr, prefix_len }
    })
}
