//! Turns the upstream's reply into what the task is told and what the kernel opens.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::svcb::{Mandatory, SvcParamKey, SvcParamValue};
use hickory_proto::rr::rdata::{CNAME, HTTPS, SVCB};
use hickory_proto::rr::{DNSClass, Name, RData, Record};

use super::refusal::name_text;
use super::screen::response_to;
use super::{DnsReason, DnsRefusal, NameMatcher, Question, RebindReason, Rebinding};

/// A record's TTL as RFC 2181 reads it: one with the top bit set means zero. The task is told
/// this, and its addresses are held for it (raised to the floor).
pub fn effective_ttl(ttl: u32) -> u32 {
    if ttl >= 1 << 31 {
        0
    } else {
        ttl
    }
}

/// The longest CNAME chain followed; real ones have a handful of links.
const MAX_CNAME_HOPS: usize = 16;

/// An address the task may now connect to, because an allowed name resolved to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The record's owner (the CNAME chain's end), lowercase, without the trailing dot.
    pub name: String,
    /// The address, canonical (an IPv4-mapped IPv6 address as its IPv4 address).
    pub addr: IpAddr,
    /// The record's TTL as the upstream gave it.
    pub ttl: u32,
}

/// The task's response, and what it opens and withholds.
#[derive(Debug, Clone)]
pub struct Filtered {
    pub response: Message,
    pub grants: Vec<Grant>,
    pub refusals: Vec<DnsRefusal>,
}

/// Builds the task's response to `question` from the `upstream` reply, anew.
///
/// The response has the task's ID, RD and question, the upstream's response code (NOERROR,
/// NXDOMAIN or SERVFAIL; any other becomes SERVFAIL) and only these answer records: the CNAME
/// chain from the question's name, each target allowed by `names` (else the response is
/// REFUSED and empty), and the records of the question's type owned by the chain's end. Of
/// those, addresses `rebinding` refuses are dropped, HTTPS and SVCB records lose their `ech`
/// and address hints (so the client asks A and AAAA, which are checked here), and TTLs are
/// capped at `max_ttl`. A reply to another question gives SERVFAIL.
pub fn filter_answer(
    question: &Question,
    upstream: &Message,
    names: &NameMatcher,
    rebinding: &Rebinding,
    max_ttl: u32,
) -> Filtered {
    if !answers_question(upstream, question) {
        return Filtered::empty(response_to(&question.request, ResponseCode::ServFail));
    }
    let chain = match CnameChain::follow(&question.name, &upstream.answers, names) {
        Ok(chain) => chain,
        Err(target) => return refuse_cname(question, target),
    };
    let code = relayed_code(upstream.metadata.response_code);
    let mut filtered = Filtered::empty(response_to(&question.request, code));
    for link in &chain.links {
        filtered.keep((*link).clone(), max_ttl);
    }
    let owned_by_end = upstream
        .answers
        .iter()
        .filter(|record| is_answer_for(record, chain.end, question));
    for record in owned_by_end {
        filtered.take(record, question, rebinding, max_ttl);
    }
    filtered
}

/// The task's answer to `question` with the response `code` and no records, encoded: for when
/// no upstream answers, or what an answer opens cannot be opened.
pub fn error_response(question: &Question, code: ResponseCode) -> Vec<u8> {
    encode(&response_to(&question.request, code))
}

/// `response` encoded for UDP to a client taking at most `limit` bytes: whole if it fits,
/// else its header and question with TC set, so the client asks again over TCP.
pub fn encode_for_udp(response: &Message, limit: u16) -> Vec<u8> {
    let whole = encode(response);
    if whole.len() <= usize::from(limit) {
        return whole;
    }
    encode(&response.truncate())
}

/// `response` encoded. Records hickory decoded it can encode again; should one not be, the
/// task gets a bare SERVFAIL with the same ID rather than nothing.
pub fn encode(response: &Message) -> Vec<u8> {
    response.to_vec().unwrap_or_else(|error| {
        tracing::warn!(%error, "DNS response does not encode, answering SERVFAIL");
        let mut bare = Message::error_msg(
            response.metadata.id,
            response.metadata.op_code,
            ResponseCode::ServFail,
        );
        bare.metadata.recursion_desired = response.metadata.recursion_desired;
        bare.metadata.recursion_available = true;
        bare.to_vec().unwrap_or_default()
    })
}

impl Filtered {
    /// Keeps only the first `max` addresses, in the response as in the grants: a task is never
    /// told of an address it could not reach because a cap pushed it out at once.
    pub fn keep_first_addresses(&mut self, max: usize) {
        if self.grants.len() <= max {
            return;
        }
        self.grants.truncate(max);
        let kept: Vec<IpAddr> = self.grants.iter().map(|g| g.addr).collect();
        self.response.answers.retain(|record| match &record.data {
            RData::A(a) => kept.contains(&IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => kept.contains(&IpAddr::V6(aaaa.0).to_canonical()),
            _ => true,
        });
    }

    fn empty(response: Message) -> Filtered {
        Filtered {
            response,
            grants: Vec::new(),
            refusals: Vec::new(),
        }
    }

    /// Passes `record` on to the task, its TTL capped.
    fn keep(&mut self, mut record: Record, max_ttl: u32) {
        record.ttl = effective_ttl(record.ttl).min(max_ttl);
        self.response.add_answer(record);
    }

    /// Passes on (and grants, for an address) an answer record of the chain's end, or
    /// withholds it.
    fn take(&mut self, record: &Record, question: &Question, rebinding: &Rebinding, max_ttl: u32) {
        if let Some(ip) = address_of(&record.data) {
            self.take_address(record, ip, question, rebinding, max_ttl);
        } else if let Some(data) = service_without_hints(&record.data) {
            self.keep(with_rdata(record, data), max_ttl);
        }
    }

    /// Grants and passes on the address `ip` of `record`, unless `rebinding` refuses it.
    fn take_address(
        &mut self,
        record: &Record,
        ip: IpAddr,
        question: &Question,
        rebinding: &Rebinding,
        max_ttl: u32,
    ) {
        let addr = ip.to_canonical();
        if let Some(reason) = rebinding.verdict(addr) {
            let reason = rebind_reason(reason, addr);
            let refusal = DnsRefusal::new(&question.name, question.qtype, reason);
            self.refusals.push(refusal);
            return;
        }
        self.grants.push(Grant {
            name: name_text(&record.name),
            addr,
            ttl: record.ttl,
        });
        self.keep(record.clone(), max_ttl);
    }
}

/// Whether `upstream` is a response to the task's question: same name (in any case), type
/// and class.
fn answers_question(upstream: &Message, question: &Question) -> bool {
    let [asked] = upstream.queries.as_slice() else {
        return false;
    };
    upstream.metadata.message_type == MessageType::Response
        && asked.name().eq_ignore_root(&question.name)
        && asked.query_type() == question.qtype
        && asked.query_class() == DNSClass::IN
}

/// The CNAME records leading from the question's name to the name whose records answer it.
struct CnameChain<'a> {
    /// The links, in order.
    links: Vec<&'a Record>,
    /// The last target (the question's name when there is no link).
    end: &'a Name,
}

impl<'a> CnameChain<'a> {
    /// Follows the CNAMEs in `answers` from `start`, at most [`MAX_CNAME_HOPS`] and until a
    /// target comes round again. `Err` with the first target `names` does not allow.
    fn follow(
        start: &'a Name,
        answers: &'a [Record],
        names: &NameMatcher,
    ) -> Result<CnameChain<'a>, &'a Name> {
        let mut chain = CnameChain {
            links: Vec::new(),
            end: start,
        };
        while chain.links.len() < MAX_CNAME_HOPS {
            let Some((link, target)) = answers.iter().find_map(|r| cname_of(r, chain.end)) else {
                break;
            };
            if !names.allows(target) {
                return Err(target);
            }
            if chain.visits(target) {
                break;
            }
            chain.links.push(link);
            chain.end = target;
        }
        Ok(chain)
    }

    /// Whether `name` is already on the chain.
    fn visits(&self, name: &Name) -> bool {
        let mut start_and_targets =
            std::iter::once(self.end).chain(self.links.iter().map(|link| &link.name));
        start_and_targets.any(|seen| seen.eq_ignore_root(name))
    }
}

/// `record` and its target, if it is an IN CNAME owned by `owner`.
fn cname_of<'a>(record: &'a Record, owner: &Name) -> Option<(&'a Record, &'a Name)> {
    match &record.data {
        RData::CNAME(CNAME(target))
            if record.dns_class == DNSClass::IN && record.name.eq_ignore_root(owner) =>
        {
            Some((record, target))
        }
        _ => None,
    }
}

/// Whether `record` is of the question's type and class and owned by the chain's `end`.
fn is_answer_for(record: &Record, end: &Name, question: &Question) -> bool {
    record.record_type() == question.qtype
        && record.dns_class == DNSClass::IN
        && record.name.eq_ignore_root(end)
}

/// The task's REFUSED response when the CNAME chain leaves the allowed names at `target`.
fn refuse_cname(question: &Question, target: &Name) -> Filtered {
    let mut filtered = Filtered::empty(response_to(&question.request, ResponseCode::Refused));
    let reason = DnsReason::CnameOutside {
        target: name_text(target),
    };
    let refusal = DnsRefusal::new(&question.name, question.qtype, reason);
    filtered.refusals.push(refusal);
    filtered
}

/// The response code the task gets for the upstream's `code`: the three a stub resolver acts
/// on pass; the rest mean the upstream failed us (our query was well formed), and an upstream
/// REFUSED must not read as our policy.
fn relayed_code(code: ResponseCode) -> ResponseCode {
    match code {
        ResponseCode::NoError | ResponseCode::NXDomain => code,
        _ => ResponseCode::ServFail,
    }
}

fn rebind_reason(reason: RebindReason, addr: IpAddr) -> DnsReason {
    match reason {
        RebindReason::NodeAddress => DnsReason::NodeAddress { addr },
        RebindReason::Internal => DnsReason::Internal { addr },
    }
}

/// The address of an A or AAAA record.
fn address_of(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

/// An HTTPS or SVCB record's data without the withheld parameters.
fn service_without_hints(data: &RData) -> Option<RData> {
    match data {
        RData::HTTPS(HTTPS(svcb)) => Some(RData::HTTPS(HTTPS(no_hints(svcb)))),
        RData::SVCB(svcb) => Some(RData::SVCB(no_hints(svcb))),
        _ => None,
    }
}

/// `record` with its data replaced.
fn with_rdata(record: &Record, data: RData) -> Record {
    let mut record = record.clone();
    record.data = data;
    record
}

/// The SvcParams a client would connect with unchecked: the address hints bypass the A and
/// AAAA answers we screen, and ECH would hide the server name from the node.
fn is_withheld_param(key: &SvcParamKey) -> bool {
    matches!(
        key,
        SvcParamKey::EchConfigList | SvcParamKey::Ipv4Hint | SvcParamKey::Ipv6Hint
    )
}

/// `svcb` without the withheld parameters, nor their keys in its `mandatory` list (a record
/// whose mandatory keys are missing is malformed, and RFC 9460 has the client drop the set).
fn no_hints(svcb: &SVCB) -> SVCB {
    let mut svcb = svcb.clone();
    svcb.svc_params.retain(|(key, _)| !is_withheld_param(key));
    for (_, value) in &mut svcb.svc_params {
        if let SvcParamValue::Mandatory(Mandatory(keys)) = value {
            keys.retain(|key| !is_withheld_param(key));
        }
    }
    svcb.svc_params
        .retain(|(_, value)| !is_empty_mandatory(value));
    svcb
}

fn is_empty_mandatory(value: &SvcParamValue) -> bool {
    matches!(value, SvcParamValue::Mandatory(Mandatory(keys)) if keys.is_empty())
}

#[cfg(test)]
mod tests;
