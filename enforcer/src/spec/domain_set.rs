//! A task's normalized, deduplicated `Domains`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;

use super::domain::{max_prefix, network_of};
use super::{Domain, SpecError, MAX_SPEC_ADDRESSES, MAX_SPEC_CIDRS};

/// A task's `Domains`, normalized and deduplicated, in a deterministic order.
///
/// Deduplication follows Bacalhau's `DomainSet`: identical entries collapse, and an entry that
/// another entry covers is dropped: a name or narrower wildcard below a wildcard
/// (`[y.foo.com, .foo.com, x.foo.com]` gives `[.foo.com]`, and `.foo.com` covers `foo.com`
/// itself), an address inside a CIDR, a CIDR inside a broader one. An exact name covers
/// nothing but itself (`[foo.com, x.foo.com]` stays as it is). The order is the one of
/// [`Domain`]'s [`Ord`]: names by their labels from the right, then addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DomainSet(Vec<Domain>);

impl DomainSet {
    /// Parses every entry with [`Domain::parse`] and deduplicates the result. The first invalid
    /// entry is the error.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<DomainSet, SpecError> {
        raw.iter()
            .map(|s| Domain::parse(s.as_ref()))
            .collect::<Result<DomainSet, _>>()
    }

    /// The entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Domain> {
        self.0.iter()
    }

    /// How many entries are left after deduplication.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, in order.
    pub fn as_slice(&self) -> &[Domain] {
        &self.0
    }

    /// Refuses a set with more addresses or more CIDRs of one family than the kernel's
    /// allowlist holds ([`MAX_SPEC_ADDRESSES`], [`MAX_SPEC_CIDRS`]).
    pub(super) fn check_capacity(&self) -> Result<(), SpecError> {
        let count = |slot| {
            self.iter()
                .filter(|d| allowlist_slot(d) == Some(slot))
                .count()
        };
        for family in ["IPv4", "IPv6"] {
            let addresses = count((family, false));
            if addresses > MAX_SPEC_ADDRESSES {
                return Err(SpecError::TooManyAddresses {
                    family,
                    count: addresses,
                    limit: MAX_SPEC_ADDRESSES,
                });
            }
            let cidrs = count((family, true));
            if cidrs > MAX_SPEC_CIDRS {
                return Err(SpecError::TooManyCidrs {
                    family,
                    count: cidrs,
                    limit: MAX_SPEC_CIDRS,
                });
            }
        }
        Ok(())
    }

    /// Whether some entry allows the DNS name `name` (see [`Domain::matches_name`]).
    pub fn matches_name(&self, name: &str) -> bool {
        self.0.iter().any(|d| d.matches_name(name))
    }

    /// Whether some entry allows the address `ip` directly (see [`Domain::matches_ip`]).
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|d| d.matches_ip(ip))
    }
}

/// The kernel allowlist an address entry goes to: its family (`IPv4` or `IPv6`) and whether
/// it is the one of CIDRs; `None` for names.
fn allowlist_slot(domain: &Domain) -> Option<(&'static str, bool)> {
    let (addr, is_cidr) = match *domain {
        Domain::Ip(ip) => (ip, false),
        Domain::Cidr { addr, .. } => (addr, true),
        Domain::Exact(_) | Domain::Wildcard(_) => return None,
    };
    Some((if addr.is_ipv4() { "IPv4" } else { "IPv6" }, is_cidr))
}

/// Collects entries into a set, deduplicating them as described on [`DomainSet`]. The entries
/// are expected to be normalized, as [`Domain::parse`] makes them.
///
/// Keeps exactly the entries that no other entry [covers](Domain::covers) (of two entries that
/// cover each other, only possible for hand-built values, the first), without comparing every
/// pair: a name looks its ancestors up among the wildcards, an address its enclosing prefixes
/// among the CIDRs.
impl FromIterator<Domain> for DomainSet {
    fn from_iter<I: IntoIterator<Item = Domain>>(iter: I) -> Self {
        let unique: BTreeSet<Domain> = iter.into_iter().collect();
        let wildcards = Wildcards::of(&unique);
        let networks = Networks::of(&unique);
        let kept = unique
            .iter()
            .filter(|d| !wildcards.cover(d) && !networks.cover(d))
            .cloned()
            .collect();
        DomainSet(kept)
    }
}

/// The wildcards of a set, by apex, to find the ones covering a name.
struct Wildcards<'a> {
    /// Lowercased apex to the first wildcard with it. (Wildcards whose apexes differ only in
    /// case, which only hand-built values do, cover each other; the first is kept.)
    by_apex: HashMap<String, &'a Domain>,
}

impl<'a> Wildcards<'a> {
    /// The wildcards of `set`, which is in order.
    fn of(set: &'a BTreeSet<Domain>) -> Self {
        let mut by_apex = HashMap::new();
        for domain in set {
            if let Domain::Wildcard(apex) = domain {
                by_apex.entry(apex.to_ascii_lowercase()).or_insert(domain);
            }
        }
        Wildcards { by_apex }
    }

    /// Whether a wildcard other than `domain` covers it.
    fn cover(&self, domain: &Domain) -> bool {
        let (Domain::Exact(name) | Domain::Wildcard(name)) = domain else {
            return false;
        };
        let name = name.to_ascii_lowercase();
        let mut apexes = at_and_above(&name);
        apexes.any(|apex| self.by_apex.get(apex).is_some_and(|w| *w != domain))
    }
}

/// `name` and every name it is below, as [`Domain::covers`] sees them: `a.b.c`, `b.c`, `c`.
fn at_and_above(name: &str) -> impl Iterator<Item = &str> {
    let parents = name.match_indices('.').map(|(dot, _)| &name[dot + 1..]);
    std::iter::once(name).chain(parents)
}

/// The CIDRs of a set, by network, to find the ones covering an address or a narrower CIDR.
struct Networks {
    /// `(network, prefix length)` of every CIDR that covers anything: its prefix length is in
    /// range and its address has no bits set after it.
    nets: HashSet<(IpAddr, u8)>,
    /// Their distinct prefix lengths, the only ones worth looking up.
    prefix_lens: BTreeSet<u8>,
}

impl Networks {
    /// The CIDRs of `set`.
    fn of(set: &BTreeSet<Domain>) -> Self {
        let nets: HashSet<(IpAddr, u8)> = set
            .iter()
            .filter_map(|d| match *d {
                Domain::Cidr { addr, prefix_len }
                    if prefix_len <= max_prefix(addr) && network_of(addr, prefix_len) == addr =>
                {
                    Some((addr, prefix_len))
                }
                _ => None,
            })
            .collect();
        let prefix_lens = nets.iter().map(|&(_, len)| len).collect();
        Networks { nets, prefix_lens }
    }

    /// Whether a CIDR other than `domain` covers it. (An address covers a CIDR only when that
    /// is the same single address, and then the CIDR, which sorts first, is kept.)
    fn cover(&self, domain: &Domain) -> bool {
        let (addr, len, is_cidr) = match *domain {
            Domain::Ip(ip) => (ip, max_prefix(ip), false),
            Domain::Cidr { addr, prefix_len } => (addr, prefix_len, true),
            Domain::Exact(_) | Domain::Wildcard(_) => return false,
        };
        let max = len.min(max_prefix(addr));
        self.prefix_lens.range(..=max).any(|&prefix_len| {
            let net = (network_of(addr, prefix_len), prefix_len);
            let is_itself = is_cidr && net == (addr, len);
            !is_itself && self.nets.contains(&net)
        })
    }
}

impl<'a> IntoIterator for &'a DomainSet {
    type Item = &'a Domain;
    type IntoIter = std::slice::Iter<'a, Domain>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for DomainSet {
    type Item = Domain;
    type IntoIter = std::vec::IntoIter<Domain>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The entries in canonical form, separated by `, `.
impl fmt::Display for DomainSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, domain) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{domain}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for DomainSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for DomainSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(deserializer)?;
        DomainSet::parse(&raw).map_err(serde::de::Error::custom)
    }
}
