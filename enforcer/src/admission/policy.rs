//! The node policy: which network specs this node runs.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::input::read_bounded_file;
use super::patterns::Patterns;
use super::AdmitError;
use crate::spec::{
    self, Domain, DomainProblem, NetworkSpec, NetworkType, ResolvedNetworkKind, SpecError,
    MAX_SPEC_BYTES,
};

/// What a node runs, read from a YAML or JSON file such as
///
/// ```yaml
/// types: [None, HTTP]             # network types accepted; leave out for every type
/// allow_domains: [.example.com]   # leave out (or empty) for every domain
/// deny_domains: [secret.example.com, 10.0.0.0/8]
/// max_domains: 100                # after deduplication; leave out for no cap
/// ```
///
/// Every key is optional; an unknown key is an error, so that a typo never leaves a rule out.
/// `types` names [`NetworkType`]s in any case (`Full` is `Host`); `Default` is not one of
/// them, since a task of Type Default gets what the node's `--default-network` says and is
/// judged as that type. Domain patterns are [`Domain`] entries, the same as in a job spec.
///
/// A task's network is admitted when its type is accepted, it has at most `max_domains`
/// domains, and each domain is admitted: no `deny_domains` pattern covers it or lies within it
/// (a wildcard or CIDR is refused when any part of it is denied), and `allow_domains` is empty
/// or one of its patterns covers it whole (a wildcard needs a wildcard at or above it, a CIDR
/// a CIDR as wide or wider). Names are not resolved here: address patterns judge the job's
/// addresses and CIDRs, name patterns its names and wildcards.
#[derive(Debug, Clone, Default)]
pub struct NodePolicy {
    /// The accepted types; `None` accepts every type.
    types: Option<Vec<NetworkType>>,
    allow: Patterns,
    deny: Patterns,
    max_domains: Option<usize>,
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a node policy: a mapping with types, allow_domains, deny_domains, max_domains"
)]
struct RawPolicy {
    #[serde(default)]
    types: Option<Vec<String>>,
    #[serde(default)]
    allow_domains: Option<Vec<String>>,
    #[serde(default)]
    deny_domains: Option<Vec<String>>,
    #[serde(default)]
    max_domains: Option<usize>,
}

impl NodePolicy {
    /// Reads a node policy from the file `path` (at most [`MAX_SPEC_BYTES`] bytes, as a job
    /// spec).
    pub fn from_file(path: &Path) -> Result<NodePolicy, AdmitError> {
        let origin = format!("node policy {}", path.display());
        let text = read_bounded_file(path, &origin)?;
        NodePolicy::from_str_named(&text, &origin)
    }

    /// Parses a node policy from `text`: JSON if its first non-space character is `{`, YAML
    /// otherwise. `origin` names it in error messages.
    pub fn from_str_named(text: &str, origin: &str) -> Result<NodePolicy, AdmitError> {
        let invalid = |message: String| AdmitError::Policy {
            origin: origin.to_owned(),
            message,
        };
        spec::check_text_bounds(text, origin).map_err(|e| match e {
            SpecError::TooLarge { .. } => invalid(format!(
                "it is larger than {MAX_SPEC_BYTES} bytes, the most a node policy may have"
            )),
            SpecError::TooDeep { line, limit, .. } => invalid(format!(
                "it nests '[' and '{{' more than {limit} levels deep (at line {line})"
            )),
            other => AdmitError::Spec(other),
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(invalid(
                "it is empty; write {} for a policy that admits every valid network spec".into(),
            ));
        }
        let raw: RawPolicy = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| invalid(format!("not valid JSON: {e}")))?
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| invalid(format!("not valid YAML: {e}")))?
        };

        let types = match raw.types {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| match NetworkType::parse(name) {
                        Ok(NetworkType::Default) => Err(invalid(format!(
                            "types: {name:?} is not a type a task runs with; a task of Type \
                             Default is judged as what --default-network makes it (None, Host \
                             or HTTP), so list that"
                        ))),
                        Ok(t) => Ok(t),
                        Err(e) => Err(invalid(format!("types: {e}"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let patterns = |key: &str, raw: Option<Vec<String>>| {
            raw.unwrap_or_default()
                .iter()
                .map(|entry| parse_pattern(entry).map_err(|e| invalid(format!("{key}: {e}"))))
                .collect::<Result<Vec<_>, _>>()
                .map(Patterns::new)
        };
        Ok(NodePolicy {
            types,
            allow: patterns("allow_domains", raw.allow_domains)?,
            deny: patterns("deny_domains", raw.deny_domains)?,
            max_domains: raw.max_domains,
        })
    }

    /// Why this policy does not admit `spec` on a node whose setting for Type Default is
    /// `default`: every reason, domains in canonical order; empty when it is admitted.
    pub fn refusals(&self, spec: &NetworkSpec, default: ResolvedNetworkKind) -> Vec<Refusal> {
        let mut refusals = Vec::new();
        let effective = match spec.network_type {
            NetworkType::Default => match default {
                ResolvedNetworkKind::None => NetworkType::None,
                ResolvedNetworkKind::Full => NetworkType::Host,
                ResolvedNetworkKind::Http => NetworkType::Http,
            },
            declared => declared,
        };
        if let Some(accepted) = &self.types {
            if !accepted.contains(&effective) {
                refusals.push(Refusal::Type {
                    declared: spec.network_type,
                    effective,
                    default,
                    accepted: accepted.clone(),
                });
            }
        }
        if let Some(max) = self.max_domains {
            if spec.domains.len() > max {
                refusals.push(Refusal::TooManyDomains {
                    count: spec.domains.len(),
                    max,
                });
            }
        }
        for domain in &spec.domains {
            if let Some(refusal) = self.judge_domain(domain) {
                refusals.push(refusal);
            }
        }
        refusals
    }

    /// Why `domain` is not admitted, if it is not.
    fn judge_domain(&self, domain: &Domain) -> Option<Refusal> {
        if let Some(pattern) = self.deny.covering(domain) {
            return Some(Refusal::Denied {
                domain: domain.clone(),
                pattern: pattern.clone(),
                pattern_within: false,
            });
        }
        if let Some(pattern) = self.deny.within(domain) {
            return Some(Refusal::Denied {
                domain: domain.clone(),
                pattern: pattern.clone(),
                pattern_within: true,
            });
        }
        if !self.allow.is_empty() && self.allow.covering(domain).is_none() {
            return Some(Refusal::NotAllowed {
                domain: domain.clone(),
            });
        }
        None
    }

    /// The accepted types, `None` for every type.
    pub fn types(&self) -> Option<&[NetworkType]> {
        self.types.as_deref()
    }

    /// The `allow_domains` patterns, normalized, in canonical order.
    pub fn allow_domains(&self) -> &[Domain] {
        self.allow.entries()
    }

    /// The `deny_domains` patterns, normalized, in canonical order.
    pub fn deny_domains(&self) -> &[Domain] {
        self.deny.entries()
    }

    /// The cap on a task's number of domains (after deduplication), if any.
    pub fn max_domains(&self) -> Option<usize> {
        self.max_domains
    }
}

/// Parses one pattern of `allow_domains` or `deny_domains`: a [`Domain`] entry, or a wildcard
/// over a single label (`.example`, `*.onion`: a whole top-level domain), which a job spec may
/// not give but a policy may.
fn parse_pattern(entry: &str) -> Result<Domain, SpecError> {
    let error = match Domain::parse(entry) {
        Ok(domain) => return Ok(domain),
        Err(error) => error,
    };
    if !matches!(
        error,
        SpecError::InvalidDomain {
            problem: DomainProblem::SingleLabel,
            ..
        }
    ) {
        return Err(error);
    }
    let trimmed = entry.trim();
    let label = trimmed
        .strip_prefix("*.")
        .or_else(|| trimmed.strip_prefix('.'))
        .ok_or(error)?;
    // The label is checked as the last label of a name below it.
    match Domain::parse(&format!("x.{label}")) {
        Ok(Domain::Exact(name)) => Ok(Domain::Wildcard(name["x.".len()..].to_owned())),
        _ => Err(SpecError::InvalidDomain {
            input: entry.to_owned(),
            problem: DomainProblem::SingleLabel,
        }),
    }
}

/// One reason a node policy gives for not admitting a network spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The task's type is not among the accepted ones.
    Type {
        /// The type the spec declares.
        declared: NetworkType,
        /// What it is judged as: the declared type, or for Default what the node makes it.
        effective: NetworkType,
        /// The node's setting for Type Default.
        default: ResolvedNetworkKind,
        /// The policy's `types`.
        accepted: Vec<NetworkType>,
    },
    /// More domains than `max_domains`.
    TooManyDomains {
        /// The spec's domains, after deduplication.
        count: usize,
        /// The policy's `max_domains`.
        max: usize,
    },
    /// A `deny_domains` pattern covers the domain, or lies within it.
    Denied {
        /// The job's domain.
        domain: Domain,
        /// The deny pattern.
        pattern: Domain,
        /// Whether the pattern lies within the domain (a wildcard or CIDR of the job), rather
        /// than covering it.
        pattern_within: bool,
    },
    /// `allow_domains` is not empty and none of its patterns covers the domain whole.
    NotAllowed {
        /// The job's domain.
        domain: Domain,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Type {
                declared,
                effective,
                default,
                accepted,
            } => {
                let accepted: Vec<&str> = accepted.iter().map(|t| t.as_str()).collect();
                let accepted = if accepted.is_empty() {
                    "none".to_owned()
                } else {
                    accepted.join(", ")
                };
                if declared == effective {
                    write!(
                        f,
                        "type {declared} is not accepted (node policy types: {accepted})"
                    )
                } else {
                    write!(
                        f,
                        "type {declared} means {default} on this node (--default-network), and \
                         type {effective} is not accepted (node policy types: {accepted})"
                    )
                }
            }
            Refusal::TooManyDomains { count, max } => write!(
                f,
                "{count} domains (after deduplication) are more than node policy max_domains {max}"
            ),
            Refusal::Denied {
                domain,
                pattern,
                pattern_within: false,
            } => write!(
                f,
                "domain {domain} is denied: node policy deny_domains entry {pattern} covers it"
            ),
            Refusal::Denied {
                domain, pattern, ..
            } => write!(
                f,
                "domain {domain} is denied: node policy deny_domains entry {pattern} lies \
                 within it"
            ),
            Refusal::NotAllowed { domain } => {
                let whole = match domain {
                    Domain::Wildcard(_) => " (a wildcard needs a wildcard at or above it)",
                    Domain::Cidr { .. } => " (a CIDR needs a CIDR as wide or wider)",
                    Domain::Exact(_) | Domain::Ip(_) => "",
                };
                write!(
                    f,
                    "domain {domain} is not allowed: no node policy allow_domains entry covers \
                     it{whole}"
                )
            }
        }
    }
}
