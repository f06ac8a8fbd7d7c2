//! The network `Type` of a task, and the node's setting for `Type: Default`.

use std::fmt;
use std::str::FromStr;

use super::SpecError;

/// A task's network type, as Bacalhau's `Task.Network.Type` spells it.
///
/// Names parse case-insensitively, with surrounding whitespace trimmed: `Default`, `None`,
/// `Host`, `Full` (Bacalhau's deprecated alias of `Host`, parsed as [`NetworkType::Host`]),
/// `HTTP`, `Bridge`. [`Display`](fmt::Display) gives the canonical names `Default`, `None`,
/// `Host`, `HTTP`, `Bridge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetworkType {
    /// Left to the compute node (see [`ResolvedNetworkKind`]). A job spec without a `Type`, or
    /// with an empty one, has this type.
    #[default]
    Default,
    /// No network at all.
    None,
    /// Unrestricted network (Bacalhau runs the task in the host's network namespace).
    /// `Full` is an alias.
    Host,
    /// HTTP(S) only, to the listed domains.
    Http,
    /// An isolated namespace behind a bridge with outbound access; for egress it is enforced
    /// like [`NetworkType::Host`].
    Bridge,
}

impl NetworkType {
    /// Every type, in Bacalhau's order.
    pub const ALL: [NetworkType; 5] = [
        NetworkType::Default,
        NetworkType::None,
        NetworkType::Host,
        NetworkType::Http,
        NetworkType::Bridge,
    ];

    /// Parses a type name (case-insensitive, trimmed; `Full` is read as `Host`).
    ///
    /// An empty name is an error here; only a job spec treats an empty `Type` as `Default`.
    pub fn parse(s: &str) -> Result<NetworkType, SpecError> {
        let name = s.trim();
        if name.eq_ignore_ascii_case("full") {
            return Ok(NetworkType::Host);
        }
        NetworkType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| SpecError::UnknownType {
                input: s.to_owned(),
            })
    }

    /// The canonical name: `Default`, `None`, `Host`, `HTTP` or `Bridge`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkType::Default => "Default",
            NetworkType::None => "None",
            NetworkType::Host => "Host",
            NetworkType::Http => "HTTP",
            NetworkType::Bridge => "Bridge",
        }
    }
}

impl FromStr for NetworkType {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NetworkType::parse(s)
    }
}

impl fmt::Display for NetworkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for NetworkType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for NetworkType {
    /// Reads a type name like [`NetworkType::parse`], except that an empty name is `Default`
    /// (as in a Bacalhau job spec).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.trim().is_empty() {
            return Ok(NetworkType::Default);
        }
        NetworkType::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What the node makes of `Type: Default`: its default network setting.
///
/// Parses case-insensitively from `none`, `full` (alias `host`) and `http`;
/// [`Display`](fmt::Display) gives `None`, `Full`, `HTTP`. The shipped default is
/// [`SHIPPED_DEFAULT`] (`None`): a task that did not ask for network gets none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolvedNetworkKind {
    /// `Type: Default` means no network.
    None,
    /// `Type: Default` means unrestricted network.
    Full,
    /// `Type: Default` means HTTP with no domains: the task reaches only the enforcer's DNS
    /// resolver, which refuses every name.
    Http,
}

/// The node setting for `Type: Default` that the enforcer ships with: no network, so that a
/// task gets network only when its job asks for it.
pub const SHIPPED_DEFAULT: ResolvedNetworkKind = ResolvedNetworkKind::None;

impl ResolvedNetworkKind {
    /// The canonical name: `None`, `Full` or `HTTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolvedNetworkKind::None => "None",
            ResolvedNetworkKind::Full => "Full",
            ResolvedNetworkKind::Http => "HTTP",
        }
    }
}

impl Default for ResolvedNetworkKind {
    fn default() -> Self {
        SHIPPED_DEFAULT
    }
}

impl FromStr for ResolvedNetworkKind {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        [
            ("none", ResolvedNetworkKind::None),
            ("full", ResolvedNetworkKind::Full),
            ("host", ResolvedNetworkKind::Full),
            ("http", ResolvedNetworkKind::Http),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, kind)| kind)
        .ok_or_else(|| SpecError::UnknownDefault {
            input: s.to_owned(),
        })
    }
}

impl fmt::Display for ResolvedNetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
