//! Which DNS names a task's `Domains` allow, in O(labels) per name.

use std::collections::HashSet;

use hickory_proto::rr::Name;

use crate::spec::{Domain, DomainSet};

/// The name entries of a task's `Domains`, hashed for lookups that take one probe per label
/// (where [`DomainSet::matches_name`] scans every entry).
#[derive(Debug, Clone, Default)]
pub struct NameMatcher {
    /// Exact names, lowercase, without the trailing dot.
    exact: HashSet<String>,
    /// Wildcard apexes, lowercase, without the trailing dot: each allows itself and every name
    /// below it.
    apexes: HashSet<String>,
}

impl NameMatcher {
    /// The name and wildcard entries of `domains`; address entries allow no name.
    pub fn new(domains: &DomainSet) -> NameMatcher {
        let mut matcher = NameMatcher::default();
        for domain in domains.iter() {
            match domain {
                Domain::Exact(name) => matcher.exact.insert(name.to_ascii_lowercase()),
                Domain::Wildcard(apex) => matcher.apexes.insert(apex.to_ascii_lowercase()),
                Domain::Ip(_) | Domain::Cidr { .. } => false,
            };
        }
        matcher
    }

    /// Whether no name at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.apexes.is_empty()
    }

    /// Whether `name` is allowed: equal to an exact entry, or at or below a wildcard apex,
    /// compared label by label, ASCII case-insensitively, whether or not it is fully qualified.
    pub fn allows(&self, name: &Name) -> bool {
        let Some(text) = dotted_lowercase(name) else {
            return false;
        };
        self.exact.contains(&text) || at_and_above(&text).any(|apex| self.apexes.contains(apex))
    }

    /// [`NameMatcher::allows`] for a name as text (as holds record them); text that is not
    /// a name is not allowed.
    pub fn allows_text(&self, name: &str) -> bool {
        Name::from_ascii(name).is_ok_and(|name| self.allows(&name))
    }
}

/// The name as lowercase text without the trailing dot; `None` for the root, and for a name
/// with a label holding a `.` byte, which no entry can match (entry labels are letters, digits
/// and `-`) and whose text would read as other labels than those on the wire.
fn dotted_lowercase(name: &Name) -> Option<String> {
    let mut text = String::with_capacity(name.len());
    for label in name.iter() {
        if label.contains(&b'.') {
            return None;
        }
        if !text.is_empty() {
            text.push('.');
        }
        text.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
    }
    (!text.is_empty()).then_some(text)
}

/// `name` and every name it is below: `a.b.c`, `b.c`, `c`.
fn at_and_above(name: &str) -> impl Iterator<Item = &str> {
    let parents = name.match_indices('.').map(|(dot, _)| &name[dot + 1..]);
    std::iter::once(name).chain(parents)
}

#[cfg(test)]
mod tests;
