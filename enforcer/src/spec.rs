//! The network spec of a task, compatible with Bacalhau's job model.
//!
//! A Bacalhau task declares `Network: {Type, Domains}`. This module parses that declaration
//! (from CLI-style arguments with [`NetworkSpec::new`], or from a whole job spec in JSON or YAML
//! with [`NetworkSpec::from_job_str`] and [`NetworkSpec::from_job_file`]), validates it more
//! strictly than Bacalhau does (see [`Domain`]), and [resolves](NetworkSpec::resolve) it to
//! what the enforcer enforces: no network, full network, or HTTP to a [`DomainSet`].
//!
//! ```
//! use enforcer::spec::{NetworkSpec, NetworkType, ResolvedNetwork, SHIPPED_DEFAULT};
//!
//! let domains = ["crates.io", "*.GitHub.com", "x.github.com"];
//! let spec = NetworkSpec::new(NetworkType::Http, &domains)?;
//! assert_eq!(spec.domains.to_string(), ".github.com, crates.io");
//! let resolved = spec.resolve(SHIPPED_DEFAULT);
//! let ResolvedNetwork::Http(allowed) = resolved.network else { unreachable!() };
//! assert!(allowed.matches_name("api.github.com"));
//! # Ok::<(), enforcer::spec::SpecError>(())
//! ```

mod domain;
mod domain_set;
mod error;
mod job;
mod network_type;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

pub use domain::Domain;
pub use domain_set::DomainSet;
pub use error::{DomainProblem, SpecError};
pub use network_type::{NetworkType, ResolvedNetworkKind, SHIPPED_DEFAULT};

use enforcer_common::{ALLOWLIST_CAPACITY, MAX_HTTP_PORTS, NETS_CAPACITY};

/// The largest job spec accepted, in bytes (1 MiB). A larger file is refused without being
/// read to its end.
pub const MAX_SPEC_BYTES: usize = 1 << 20;

/// The deepest nesting of `[` and `{` accepted in a job spec, checked before a parser sees it
/// (parsers take time and memory in proportion to the depth).
pub const MAX_SPEC_NESTING: usize = 64;

/// The most `Domains` entries a spec may give, checked before they are parsed.
pub const MAX_DOMAINS: usize = 65_536;

/// The most IP addresses of one family a spec may list. The kernel's allowlist maps are
/// shared by every task of a node ([`ALLOWLIST_CAPACITY`] entries per family in all), so one
/// task gets a quarter at most.
pub const MAX_SPEC_ADDRESSES: usize = 64_512;

/// The most CIDRs of one family a spec may list (of [`NETS_CAPACITY`] for all tasks).
pub const MAX_SPEC_CIDRS: usize = 4_096;

const _: () = assert!(MAX_SPEC_ADDRESSES * 4 <= ALLOWLIST_CAPACITY as usize);
const _: () = assert!(MAX_SPEC_CIDRS * 4 <= NETS_CAPACITY as usize);

/// A task's validated network declaration: Bacalhau's `Task.Network` without `Ports`.
///
/// Built by [`NetworkSpec::new`] or read from a job spec, it holds these invariants: `domains`
/// is non-empty if and only if `network_type` is [`NetworkType::Http`]. (The fields are public
/// for reading and pattern matching; code that builds a value by hand is responsible for them.)
///
/// With serde it reads and writes Bacalhau's shape `{"Type": "HTTP", "Domains": [...]}`
/// (`Domains` left out when empty), validating on the way in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "job::RawNetwork", into = "job::RawNetwork")]
pub struct NetworkSpec {
    /// The declared type.
    pub network_type: NetworkType,
    /// The allowed domains: non-empty for [`NetworkType::Http`], empty otherwise.
    pub domains: DomainSet,
}

impl NetworkSpec {
    /// Validates a type and its raw `Domains` entries (as `--network` and repeated `--domain`
    /// give them).
    ///
    /// Errors: [`SpecError::DomainsNotAllowed`] for domains with a type other than HTTP,
    /// [`SpecError::HttpWithoutDomains`] for HTTP without domains,
    /// [`SpecError::TooManyDomains`] for more than [`MAX_DOMAINS`] entries,
    /// [`SpecError::InvalidDomain`] for the first invalid entry, and
    /// [`SpecError::TooManyAddresses`] or [`SpecError::TooManyCidrs`] for more addresses or
    /// CIDRs of one family, once deduplicated, than the kernel's allowlist holds.
    pub fn new<S: AsRef<str>>(
        network_type: NetworkType,
        domains: &[S],
    ) -> Result<NetworkSpec, SpecError> {
        match (network_type, domains.is_empty()) {
            (NetworkType::Http, true) => return Err(SpecError::HttpWithoutDomains),
            (NetworkType::Http, false) | (_, true) => {}
            (_, false) => {
                return Err(SpecError::DomainsNotAllowed {
                    network_type,
                    count: domains.len(),
                })
            }
        }
        if domains.len() > MAX_DOMAINS {
            return Err(SpecError::TooManyDomains {
                count: domains.len(),
                limit: MAX_DOMAINS,
            });
        }
        let domains = DomainSet::parse(domains)?;
        domains.check_capacity()?;
        Ok(NetworkSpec {
            network_type,
            domains,
        })
    }

    /// Reads the network of one task from a Bacalhau job spec (`{Name, Type, Tasks: [{Name,
    /// Engine, Network: {Type, Domains}}, ...]}`), in JSON if its first non-space character is
    /// `{`, in YAML otherwise.
    ///
    /// Keys are matched as Bacalhau writes them (`Tasks`, `Name`, `Network`, `Type`,
    /// `Domains`) or in lowercase; other keys are ignored, and `{Job: {...}}` is unwrapped.
    /// `task` picks a task by its `Name`; without it the job must have exactly one task. A task
    /// without `Network`, or with an empty `Type`, has Type Default.
    ///
    /// A text of more than [`MAX_SPEC_BYTES`] bytes, or nesting `[` and `{` deeper than
    /// [`MAX_SPEC_NESTING`], is refused before it is parsed.
    pub fn from_job_str(text: &str, task: Option<&str>) -> Result<NetworkSpec, SpecError> {
        job::network_of_task(text, task, "job spec".to_owned())
    }

    /// Like [`NetworkSpec::from_job_str`], reading the job spec from the file `path`; error
    /// messages name the file. A file of more than [`MAX_SPEC_BYTES`] bytes is refused after
    /// reading one byte more.
    pub fn from_job_file(path: &Path, task: Option<&str>) -> Result<NetworkSpec, SpecError> {
        let origin = format!("job spec {}", path.display());
        let text = job::read_job_file(path, &origin)?;
        job::network_of_task(&text, task, origin)
    }

    /// What the enforcer enforces for this spec on a node whose setting for Type Default is
    /// `default`.
    ///
    /// None gives None; Host gives Full; Bridge gives Full (its port mappings are out of
    /// scope); HTTP gives HTTP to its domains; Default gives what `default` says, HTTP meaning
    /// HTTP with no domains. `notes` explains every step that is not a plain identity.
    pub fn resolve(&self, default: ResolvedNetworkKind) -> Resolved {
        let mut notes = Vec::new();
        let network = match self.network_type {
            NetworkType::None => ResolvedNetwork::None,
            NetworkType::Host => ResolvedNetwork::Full,
            NetworkType::Bridge => {
                notes.push(
                    "Type Bridge is enforced as Full for egress; its port mappings are out of \
                     scope"
                        .to_owned(),
                );
                ResolvedNetwork::Full
            }
            NetworkType::Http => ResolvedNetwork::Http(self.domains.clone()),
            NetworkType::Default => {
                notes.push(format!(
                    "Type Default resolved to {default} by the node setting"
                ));
                match default {
                    ResolvedNetworkKind::None => ResolvedNetwork::None,
                    ResolvedNetworkKind::Full => ResolvedNetwork::Full,
                    ResolvedNetworkKind::Http => {
                        notes.push(
                            "HTTP with no domains: nothing is allowed, and no DNS either (no \
                             name to look up)"
                                .to_owned(),
                        );
                        ResolvedNetwork::Http(DomainSet::default())
                    }
                }
            }
        };
        Resolved { network, notes }
    }
}

/// The TCP ports HTTP mode allows, from the ports `given` (`--http-port`): sorted and
/// deduplicated. More than [`MAX_HTTP_PORTS`], which is all the kernel programs have room for,
/// is [`SpecError::TooManyHttpPorts`]. No ports give none; the caller picks the default.
pub fn http_ports(given: &[u16]) -> Result<Vec<u16>, SpecError> {
    let mut ports = given.to_vec();
    ports.sort_unstable();
    ports.dedup();
    if ports.len() > MAX_HTTP_PORTS {
        return Err(SpecError::TooManyHttpPorts {
            count: ports.len(),
            limit: MAX_HTTP_PORTS,
        });
    }
    Ok(ports)
}

/// Refuses a text of more than [`MAX_SPEC_BYTES`] bytes or nesting `[` and `{` deeper than
/// [`MAX_SPEC_NESTING`], as [`NetworkSpec::from_job_str`] does before parsing (for other
/// readers of job specs, such as node admission); `origin` names the text in the error.
pub fn check_text_bounds(text: &str, origin: &str) -> Result<(), SpecError> {
    job::check_bounds(text, origin)
}

/// Bacalhau's form: `Type` alone, or `HTTP [a.com, .b.com]`.
impl fmt::Display for NetworkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.network_type)?;
        if !self.domains.is_empty() {
            write!(f, " [{}]", self.domains)?;
        }
        Ok(())
    }
}

/// The network a task gets, after the node's setting for Type Default is applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResolvedNetwork {
    /// No IP traffic at all.
    None,
    /// Unrestricted (still counted and observable).
    Full,
    /// TCP to the HTTP ports of the addresses these domains resolve to for the task, DNS only
    /// through the enforcer's resolver, nothing else. May be empty (Type Default on a node
    /// whose setting is HTTP).
    Http(DomainSet),
}

/// `None`, `Full`, or `HTTP [a.com, .b.com]`.
impl fmt::Display for ResolvedNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolvedNetwork::None => f.write_str("None"),
            ResolvedNetwork::Full => f.write_str("Full"),
            ResolvedNetwork::Http(domains) => write!(f, "HTTP [{domains}]"),
        }
    }
}

/// The outcome of [`NetworkSpec::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// What to enforce.
    pub network: ResolvedNetwork,
    /// Human sentences on how the spec was mapped, for logs and `--dry-run` style output;
    /// empty when the mapping is the obvious one.
    pub notes: Vec<String>,
}
