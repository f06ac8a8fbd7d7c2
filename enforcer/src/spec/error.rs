//! Errors of the network spec model.

use std::path::PathBuf;

use super::NetworkType;

/// Everything that can be wrong with a network spec, a domain entry or a job spec.
///
/// Every message is self-contained: it names the offending input, says what is wrong with it
/// and, where useful, what would be accepted. The underlying cause (an I/O error, a parser
/// message) is part of the message, so these errors expose no [`source`](std::error::Error::source)
/// chain; print them with `{}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A network `Type` name that is none of the accepted ones.
    #[error(
        "unknown network Type {input:?}; accepted (case-insensitive): Default, None, Host, \
         Full (deprecated alias of Host), HTTP, Bridge"
    )]
    UnknownType {
        /// The name as given.
        input: String,
    },

    /// A node default network setting that is none of `none`, `full`, `http`.
    #[error(
        "unknown default network {input:?}; accepted (case-insensitive): none, full \
         (or its alias host), http"
    )]
    UnknownDefault {
        /// The setting as given.
        input: String,
    },

    /// One entry of `Domains` is not a domain name, wildcard, IP address or CIDR.
    #[error("invalid domain {input:?}: {problem}")]
    InvalidDomain {
        /// The entry as given (before trimming and lowercasing).
        input: String,
        /// What is wrong with it.
        problem: DomainProblem,
    },

    /// `Domains` were given with a `Type` other than HTTP.
    #[error(
        "Domains are only allowed with Type HTTP, but Type is {network_type} and {count} \
         domain(s) were given; use Type HTTP to restrict the task to those domains, or remove \
         the Domains"
    )]
    DomainsNotAllowed {
        /// The type the domains came with.
        network_type: NetworkType,
        /// How many domain entries were given.
        count: usize,
    },

    /// Type HTTP without any domain.
    #[error(
        "Type HTTP needs at least one entry in Domains (e.g. Domains: [crates.io, .github.com]); \
         use Type None if the task needs no network"
    )]
    HttpWithoutDomains,

    /// A job spec file could not be read.
    #[error("could not read job spec {}: {error}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },

    /// A job spec larger than [`MAX_SPEC_BYTES`](super::MAX_SPEC_BYTES).
    #[error("{origin} is larger than {limit} bytes, the most a job spec may have")]
    TooLarge {
        /// `job spec` or `job spec PATH`.
        origin: String,
        /// The limit in bytes.
        limit: usize,
    },

    /// A job spec whose `[` and `{` nest deeper than
    /// [`MAX_SPEC_NESTING`](super::MAX_SPEC_NESTING).
    #[error(
        "{origin} nests '[' and '{{' more than {limit} levels deep (at line {line}), more than \
         a job spec needs"
    )]
    TooDeep {
        /// `job spec` or `job spec PATH`.
        origin: String,
        /// The line of the first bracket past the limit.
        line: usize,
        /// The deepest nesting accepted.
        limit: usize,
    },

    /// More `Domains` entries than [`MAX_DOMAINS`](super::MAX_DOMAINS).
    #[error("{count} Domains entries were given; at most {limit} are accepted")]
    TooManyDomains {
        /// How many entries were given.
        count: usize,
        /// The most accepted.
        limit: usize,
    },

    /// More IP addresses of one family than the kernel's allowlist has room for (see
    /// [`MAX_SPEC_ADDRESSES`](super::MAX_SPEC_ADDRESSES)).
    #[error(
        "the allowlist holds at most {limit} {family} addresses; the spec has {count}; give \
         ranges of addresses as CIDRs instead"
    )]
    TooManyAddresses {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// How many addresses of that family the spec has, after deduplication.
        count: usize,
        /// The most accepted.
        limit: usize,
    },

    /// More CIDRs of one family than the kernel's allowlist has room for (see
    /// [`MAX_SPEC_CIDRS`](super::MAX_SPEC_CIDRS)).
    #[error(
        "the allowlist holds at most {limit} {family} CIDRs; the spec has {count}; merge them \
         into fewer, broader CIDRs"
    )]
    TooManyCidrs {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// How many CIDRs of that family the spec has, after deduplication.
        count: usize,
        /// The most accepted.
        limit: usize,
    },

    /// More distinct HTTP ports than the kernel programs have room for
    /// ([`MAX_HTTP_PORTS`](enforcer_common::MAX_HTTP_PORTS)).
    #[error("at most {limit} HTTP ports can be allowed, got {count}")]
    TooManyHttpPorts {
        /// How many distinct ports were given.
        count: usize,
        /// The most accepted.
        limit: usize,
    },

    /// A job spec is not well-formed JSON or YAML, or does not have the expected shape.
    #[error("{origin} is not valid {format}: {message}")]
    Parse {
        /// `job spec` or `job spec PATH`.
        origin: String,
        /// `JSON` or `YAML`: the format the text was parsed as (JSON when its first non-space
        /// character is `{`).
        format: &'static str,
        /// The parser's message, with its line and column.
        message: String,
    },

    /// A job spec without tasks.
    #[error(
        "{origin} has no Tasks; expected a Bacalhau job with \
         Tasks: [{{Name: ..., Network: {{Type: ..., Domains: [...]}}}}]"
    )]
    NoTasks {
        /// `job spec` or `job spec PATH`.
        origin: String,
    },

    /// A job spec with several tasks, and no task chosen.
    #[error(
        "{origin} has {} tasks ({}); choose one with --task NAME",
        .tasks.len(),
        .tasks.join(", ")
    )]
    TaskRequired {
        /// `job spec` or `job spec PATH`.
        origin: String,
        /// The names of its tasks.
        tasks: Vec<String>,
    },

    /// The chosen task is not in the job spec.
    #[error("{origin} has no task named {wanted:?}; its tasks are: {}", .tasks.join(", "))]
    TaskNotFound {
        /// `job spec` or `job spec PATH`.
        origin: String,
        /// The name asked for.
        wanted: String,
        /// The names of its tasks.
        tasks: Vec<String>,
    },

    /// The chosen task name is used by more than one task.
    #[error("{origin} has {count} tasks named {wanted:?}; task names must be unique")]
    DuplicateTask {
        /// `job spec` or `job spec PATH`.
        origin: String,
        /// The name asked for.
        wanted: String,
        /// How many tasks carry it.
        count: usize,
    },

    /// The network of one task of a job spec is invalid.
    #[error("in {origin}, task {task:?}: {error}")]
    InTask {
        /// `job spec` or `job spec PATH`.
        origin: String,
        /// The task's name.
        task: String,
        /// What is wrong with its network.
        error: Box<SpecError>,
    },
}

/// What is wrong with one domain entry (see [`SpecError::InvalidDomain`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainProblem {
    /// The entry is empty or only whitespace.
    #[error("it is empty")]
    Empty,
    /// Whitespace inside the entry.
    #[error("it contains whitespace; give one domain per entry")]
    Whitespace,
    /// A URL scheme such as `http://`.
    #[error("it has a URL scheme ({scheme}://); give the host name only, e.g. example.com")]
    Scheme {
        /// The scheme, e.g. `https`.
        scheme: String,
    },
    /// A URL path such as `/a`.
    #[error("it has a path ({path}); give the host name only, e.g. example.com")]
    Path {
        /// The path, from the first `/`.
        path: String,
    },
    /// A port such as `:443`.
    #[error(
        "it has a port (:{port}); give the host name only (Type HTTP allows the HTTP ports \
         80 and 443)"
    )]
    Port {
        /// The text after the colon.
        port: String,
    },
    /// An IPv6 address in brackets.
    #[error("IPv6 addresses are written without brackets here, e.g. 2001:db8::1")]
    Brackets,
    /// Contains `:` but is not an IPv6 address.
    #[error("it contains ':' but is not a valid IPv6 address")]
    InvalidIpv6,
    /// `*`, `.`, `*.`: a wildcard without a domain.
    #[error("a wildcard needs a domain, e.g. .example.com or *.example.com")]
    BareWildcard,
    /// A `*` other than a leading `*.`.
    #[error("'*' is only allowed as a leading '*.', e.g. *.example.com")]
    MisplacedWildcard,
    /// A wildcard over an IP address, e.g. `.10.0.0.1`.
    #[error("a wildcard needs a domain name, not an IP address; use a CIDR such as 10.0.0.0/8")]
    WildcardIp,
    /// Two dots in a row, or a leading dot beyond the one wildcard dot.
    #[error("it has an empty label (two dots in a row, or a stray leading or trailing dot)")]
    EmptyLabel,
    /// A label longer than 63 characters.
    #[error("label {label:?} is {} characters long; a label has at most 63", .label.len())]
    LabelTooLong {
        /// The label.
        label: String,
    },
    /// A name longer than 253 characters.
    #[error("it is {len} characters long; a domain name has at most 253")]
    NameTooLong {
        /// Its length, without wildcard prefix and trailing dot.
        len: usize,
    },
    /// A character other than `a-z`, `0-9`, `-` in a label.
    #[error(
        "it contains {ch:?}; a domain label may contain only letters a-z, digits 0-9 and '-'{}",
        if .ch.is_ascii() { "" } else { " (write internationalized names in their xn-- form)" }
    )]
    InvalidChar {
        /// The first offending character.
        ch: char,
    },
    /// A label that starts or ends with `-`.
    #[error("label {label:?} starts or ends with '-'")]
    HyphenEdge {
        /// The label.
        label: String,
    },
    /// A name of one label only, such as `localhost` or `.com`.
    #[error("it has a single label; give a fully qualified name such as example.com")]
    SingleLabel,
    /// Looks numeric (its last label is all digits) but is no IP address, e.g. `1.2.3`.
    #[error("it is not a valid IP address or domain name (its last label is all digits)")]
    NotIpOrName,
    /// A CIDR whose prefix length is not a number or out of range.
    #[error("prefix length {prefix:?} is not a number from 0 to {max}")]
    CidrPrefix {
        /// The prefix length as given.
        prefix: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// A CIDR with bits set after the prefix, e.g. `10.0.0.1/8`.
    #[error("the address has bits set beyond the prefix; did you mean {network}?")]
    CidrHostBits {
        /// The network the entry probably means, e.g. `10.0.0.0/8`.
        network: String,
    },
}
