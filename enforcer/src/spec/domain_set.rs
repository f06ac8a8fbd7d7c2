//! A task's normalized, deduplicated `Domains`.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use super::{Domain, SpecError};

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

    /// Whether some entry allows the DNS name `name` (see [`Domain::matches_name`]).
    pub fn matches_name(&self, name: &str) -> bool {
        self.0.iter().any(|d| d.matches_name(name))
    }

    /// Whether some entry allows the address `ip` directly (see [`Domain::matches_ip`]).
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|d| d.matches_ip(ip))
    }
}

/// Collects entries into a set, deduplicating them as described on [`DomainSet`]. The entries
/// are expected to be normalized, as [`Domain::parse`] makes them.
impl FromIterator<Domain> for DomainSet {
    fn from_iter<I: IntoIterator<Item = Domain>>(iter: I) -> Self {
        let unique: BTreeSet<Domain> = iter.into_iter().collect();
        let kept = unique
            .iter()
            .filter(|d| {
                !unique.iter().any(|other| {
                    // Drop `d` if a different entry covers it; of two entries that cover each
                    // other (only possible for hand-built values), keep the first.
                    other != *d && other.covers(d) && !(d.covers(other) && *d < other)
                })
            })
            .cloned()
            .collect();
        DomainSet(kept)
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
