//! Why the resolver refused a question or dropped part of an answer, for the task's log.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};

/// One refusal: what the task asked and why (part of) the answer was withheld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRefusal {
    /// The question's name, lowercase, without the trailing dot.
    pub name: String,
    /// The question's type, as `dig` writes it (`A`, `TXT`, `TYPE65280`).
    pub qtype: String,
    pub reason: DnsReason,
}

impl DnsRefusal {
    /// A refusal of the question `name`/`qtype`.
    pub fn new(name: &Name, qtype: RecordType, reason: DnsReason) -> DnsRefusal {
        DnsRefusal {
            name: name_text(name),
            qtype: type_text(qtype),
            reason,
        }
    }
}

/// What a refusal is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsReason {
    /// The task's `Domains` do not allow the question's name.
    NameNotAllowed,
    /// The question's type is none of A, AAAA, CNAME, HTTPS, SVCB.
    TypeNotAllowed,
    /// The answer's CNAME chain leads to `target`, a name the task may not resolve.
    CnameOutside { target: String },
    /// The answer held `addr`, an internal address no `--allow-internal` covers.
    Internal { addr: IpAddr },
    /// The answer held `addr`, an address of this node.
    NodeAddress { addr: IpAddr },
}

impl DnsReason {
    /// The reason's stable name, for logs and events.
    pub fn as_str(&self) -> &'static str {
        match self {
            DnsReason::NameNotAllowed => "name-not-allowed",
            DnsReason::TypeNotAllowed => "type-not-allowed",
            DnsReason::CnameOutside { .. } => "cname-outside",
            DnsReason::Internal { .. } => "internal-address",
            DnsReason::NodeAddress { .. } => "node-address",
        }
    }

    /// The address the reason is about, if any.
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            DnsReason::Internal { addr } | DnsReason::NodeAddress { addr } => Some(*addr),
            DnsReason::NameNotAllowed
            | DnsReason::TypeNotAllowed
            | DnsReason::CnameOutside { .. } => None,
        }
    }
}

/// A name as logs show it: lowercase, without the trailing dot, odd bytes escaped.
pub(super) fn name_text(name: &Name) -> String {
    let text = name.to_ascii().to_ascii_lowercase();
    match text.strip_suffix('.') {
        Some(relative) if !relative.is_empty() => relative.to_owned(),
        _ => text,
    }
}

/// A record type as `dig` writes it; unknown ones as `TYPEnnn` (RFC 3597).
fn type_text(qtype: RecordType) -> String {
    match qtype {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

#[cfg(test)]
mod tests;
