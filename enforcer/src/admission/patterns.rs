//! A node policy's list of domain patterns, indexed so that a job's domains are judged
//! without comparing every pair.
//!
//! The semantics are those of [`Domain::covers`]; the index only makes them fast (a job may
//! list 65,536 domains and a policy thousands of patterns). The unit tests check the index
//! against a plain loop over `covers`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use crate::spec::Domain;

/// An address family, as a key.
type Family = u8;
const V4: Family = 4;
const V6: Family = 6;

/// A list of patterns (`allow_domains` or `deny_domains`), in canonical order.
#[derive(Debug, Clone, Default)]
pub(super) struct Patterns {
    /// The patterns, sorted and without duplicates.
    entries: Vec<Domain>,
    /// Exact name to its pattern.
    exact: HashMap<String, usize>,
    /// Wildcard apex to its pattern.
    wildcards: HashMap<String, usize>,
    /// Every name that some name pattern is at or below (the pattern's own name and all its
    /// parents), to the first such pattern: the patterns that lie within a wildcard.
    below: HashMap<String, usize>,
    /// Address patterns by `(family, network, prefix length)` (a plain address has the full
    /// length), in order of network: the ones within a CIDR form one range of keys.
    nets: BTreeMap<(Family, u128, u8), usize>,
    /// The prefix lengths in `nets`, per family: the only ones worth looking up.
    prefix_lens: BTreeSet<(Family, u8)>,
}

impl Patterns {
    /// Indexes `patterns`.
    pub(super) fn new(patterns: impl IntoIterator<Item = Domain>) -> Patterns {
        let unique: BTreeSet<Domain> = patterns.into_iter().collect();
        let mut index = Patterns {
            entries: unique.into_iter().collect(),
            ..Patterns::default()
        };
        for (i, pattern) in index.entries.iter().enumerate() {
            match pattern {
                Domain::Exact(name) | Domain::Wildcard(name) => {
                    let map = if matches!(pattern, Domain::Exact(_)) {
                        &mut index.exact
                    } else {
                        &mut index.wildcards
                    };
                    map.entry(name.clone()).or_insert(i);
                    for above in at_and_above(name) {
                        index.below.entry(above.to_owned()).or_insert(i);
                    }
                }
                Domain::Ip(_) | Domain::Cidr { .. } => {
                    if let Some(key) = net_key(pattern) {
                        index.nets.entry(key).or_insert(i);
                        index.prefix_lens.insert((key.0, key.2));
                    }
                }
            }
        }
        index
    }

    /// The patterns, in canonical order.
    pub(super) fn entries(&self) -> &[Domain] {
        &self.entries
    }

    /// Whether there is no pattern.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A pattern that [covers](Domain::covers) `domain` (everything it allows), if any: the
    /// exact name itself, else the nearest wildcard; for addresses, the narrowest CIDR.
    pub(super) fn covering(&self, domain: &Domain) -> Option<&Domain> {
        let found =
            match domain {
                Domain::Exact(name) => self.exact.get(name).copied().or_else(|| {
                    at_and_above(name).find_map(|apex| self.wildcards.get(apex).copied())
                }),
                Domain::Wildcard(apex) => {
                    at_and_above(apex).find_map(|above| self.wildcards.get(above).copied())
                }
                Domain::Ip(_) | Domain::Cidr { .. } => {
                    let (family, bits, len) = net_key(domain)?;
                    self.prefix_lens
                        .range((family, 0)..=(family, len))
                        .rev()
                        .find_map(|&(_, prefix)| {
                            let net = network(family, bits, prefix);
                            self.nets.get(&(family, net, prefix)).copied()
                        })
                }
            };
        found.map(|i| &self.entries[i])
    }

    /// A pattern that `domain` [covers](Domain::covers), that is one lying within it (or equal
    /// to it), if any.
    pub(super) fn within(&self, domain: &Domain) -> Option<&Domain> {
        let found = match domain {
            Domain::Exact(name) => self.exact.get(name).copied(),
            Domain::Wildcard(apex) => self.below.get(apex.as_str()).copied(),
            Domain::Ip(_) | Domain::Cidr { .. } => {
                let (family, bits, len) = net_key(domain)?;
                let last = bits | host_mask(family, len);
                // A pattern whose network lies in `domain`'s range and whose prefix is at
                // least as long lies within it. Networks further into the range have longer
                // prefixes (they are aligned), so the range of keys below holds exactly those.
                self.nets
                    .range((family, bits, len)..=(family, last, max_len(family)))
                    .next()
                    .map(|(_, &i)| i)
            }
        };
        found.map(|i| &self.entries[i])
    }
}

/// `name` and every name it is below: `a.b.c`, `b.c`, `c`.
fn at_and_above(name: &str) -> impl Iterator<Item = &str> {
    let parents = name.match_indices('.').map(|(dot, _)| &name[dot + 1..]);
    std::iter::once(name).chain(parents)
}

/// `(family, network bits, prefix length)` of an address or CIDR entry; `None` for names and
/// for a hand-built CIDR whose prefix is out of range.
fn net_key(domain: &Domain) -> Option<(Family, u128, u8)> {
    let (addr, len) = match *domain {
        Domain::Ip(ip) => (ip.to_canonical(), None),
        Domain::Cidr { addr, prefix_len } => (addr, Some(prefix_len)),
        Domain::Exact(_) | Domain::Wildcard(_) => return None,
    };
    let (family, bits) = match addr {
        IpAddr::V4(v4) => (V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (V6, u128::from(v6)),
    };
    let len = len.unwrap_or(max_len(family));
    (len <= max_len(family)).then(|| (family, network(family, bits, len), len))
}

/// 32 or 128.
fn max_len(family: Family) -> u8 {
    if family == V4 {
        32
    } else {
        128
    }
}

/// The bits after the first `len` of an address of `family`.
fn host_mask(family: Family, len: u8) -> u128 {
    let host_bits = u32::from(max_len(family) - len);
    u128::MAX.checked_shr(128 - host_bits).unwrap_or(0)
}

/// `bits` with the bits after the first `len` cleared.
fn network(family: Family, bits: u128, len: u8) -> u128 {
    bits & !host_mask(family, len)
}
