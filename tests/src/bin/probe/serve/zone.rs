//! The lab's DNS data, from a [`ZoneSpec`], and the answers it gives.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use anyhow::{Context, Result};
use enforcer_tests::{ForeignRecord, HttpsSpec, NameSpec, RecordSpec, ZoneSpec};
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::svcb::{Alpn, EchConfigList, IpHint, SvcParamKey, SvcParamValue};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, HTTPS, SVCB, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Longest CNAME chain followed, so a loop in the zone still gets an answer.
const MAX_CHAIN: usize = 8;

/// What the server advertises in its own EDNS OPT record.
const EDNS_PAYLOAD: u16 = 1232;

/// Names and their records.
pub struct Zone {
    exact: HashMap<String, Entry>,
    /// `(suffix, entry)` of each `*.suffix` name.
    wildcards: Vec<(String, Entry)>,
    /// Queries answered so far per rotating name and type.
    turns: Mutex<HashMap<(String, RecordType), usize>>,
}

/// One name's records, ready to send.
struct Entry {
    key: String,
    ttl: u32,
    data: Vec<RData>,
    rotate: bool,
    foreign_answers: Vec<Record>,
    foreign_additionals: Vec<Record>,
}

/// The form names are stored and logged in: lowercase, no trailing dot.
pub fn name_key(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// The zone `spec` describes.
    pub fn new(spec: &ZoneSpec) -> Result<Zone> {
        let mut zone = Zone {
            exact: HashMap::new(),
            wildcards: Vec::new(),
            turns: Mutex::new(HashMap::new()),
        };
        for name in &spec.names {
            let entry = Entry::new(name).with_context(|| format!("zone name {:?}", name.name))?;
            match name.name.strip_prefix("*.") {
                Some(suffix) => zone.wildcards.push((suffix.to_owned(), entry)),
                None => {
                    zone.exact.insert(name.name.clone(), entry);
                }
            }
        }
        Ok(zone)
    }

    /// The response to `request`, for its first question: the chain of
    /// CNAMEs from the name, then the records of the queried type at its end
    /// with any foreign records. NXDOMAIN when a name in the chain is unknown,
    /// NOERROR without answers when the last has no record of that type.
    pub fn answer(&self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            response.set_edns(edns);
        }
        let Some(query) = request.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };
        response.add_query(query.clone());
        let qtype = query.query_type();
        let mut owner = query.name().clone();
        for _ in 0..MAX_CHAIN {
            let Some(entry) = self.lookup(&name_key(&owner)) else {
                response.metadata.response_code = ResponseCode::NXDomain;
                break;
            };
            let alias = entry.data.iter().find_map(|data| match data {
                RData::CNAME(CNAME(target)) if qtype != RecordType::CNAME => Some(target),
                _ => None,
            });
            if let Some(target) = alias {
                response.add_answer(Record::from_rdata(
                    owner,
                    entry.ttl,
                    RData::CNAME(CNAME(target.clone())),
                ));
                owner = target.clone();
                continue;
            }
            for data in self.matching(entry, qtype) {
                response.add_answer(Record::from_rdata(owner.clone(), entry.ttl, data));
            }
            let of_type = |r: &&Record| matches_type(r.record_type(), qtype);
            response.add_answers(entry.foreign_answers.iter().filter(of_type).cloned());
            response.add_additionals(entry.foreign_additionals.iter().filter(of_type).cloned());
            break;
        }
        response
    }

    fn lookup(&self, key: &str) -> Option<&Entry> {
        self.exact.get(key).or_else(|| {
            self.wildcards
                .iter()
                .find(|(suffix, _)| {
                    key.strip_suffix(suffix.as_str())
                        .is_some_and(|below| below.len() > 1 && below.ends_with('.'))
                })
                .map(|(_, entry)| entry)
        })
    }

    /// `entry`'s records of type `qtype`: all of them, or the next in turn.
    fn matching(&self, entry: &Entry, qtype: RecordType) -> Vec<RData> {
        let all: Vec<RData> = entry
            .data
            .iter()
            .filter(|data| matches_type(data.record_type(), qtype))
            .cloned()
            .collect();
        if !entry.rotate || all.is_empty() {
            return all;
        }
        let mut turns = self
            .turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let turn = turns.entry((entry.key.clone(), qtype)).or_default();
        let chosen = all[*turn % all.len()].clone();
        *turn += 1;
        vec![chosen]
    }
}

/// Whether a record of type `rtype` answers a `qtype` query.
fn matches_type(rtype: RecordType, qtype: RecordType) -> bool {
    qtype == RecordType::ANY || rtype == qtype
}

impl Entry {
    fn new(spec: &NameSpec) -> Result<Entry> {
        Ok(Entry {
            key: spec.name.clone(),
            ttl: spec.ttl,
            data: spec.records.iter().map(rdata).collect::<Result<_>>()?,
            rotate: spec.rotate,
            foreign_answers: foreign(&spec.foreign_answers, spec.ttl)?,
            foreign_additionals: foreign(&spec.foreign_additionals, spec.ttl)?,
        })
    }
}

fn rdata(spec: &RecordSpec) -> Result<RData> {
    Ok(match spec {
        RecordSpec::Address(ip) => address(*ip),
        RecordSpec::Cname(target) => RData::CNAME(CNAME(fqdn(target)?)),
        RecordSpec::Txt(text) => RData::TXT(TXT::new(vec![text.clone()])),
        RecordSpec::Https(https) => RData::HTTPS(HTTPS(svcb(https)?)),
    })
}

fn address(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

/// The parameters go in increasing key order, as RFC 9460 requires on the wire.
fn svcb(spec: &HttpsSpec) -> Result<SVCB> {
    let params = vec![
        (
            SvcParamKey::Alpn,
            SvcParamValue::Alpn(Alpn(spec.alpn.clone())),
        ),
        (SvcParamKey::Port, SvcParamValue::Port(spec.port)),
        (
            SvcParamKey::Ipv4Hint,
            SvcParamValue::Ipv4Hint(IpHint(spec.ipv4hint.iter().copied().map(A).collect())),
        ),
        (
            SvcParamKey::EchConfigList,
            SvcParamValue::EchConfigList(EchConfigList(spec.ech.clone())),
        ),
    ];
    Ok(SVCB::new(spec.priority, fqdn(&spec.target)?, params))
}

fn foreign(records: &[ForeignRecord], ttl: u32) -> Result<Vec<Record>> {
    records
        .iter()
        .map(|r| Ok(Record::from_rdata(fqdn(&r.owner)?, ttl, address(r.address))))
        .collect()
}

/// `name` as an absolute DNS name; `.` is the root.
fn fqdn(name: &str) -> Result<Name> {
    let absolute = format!("{}.", name.trim_end_matches('.'));
    Name::from_ascii(&absolute).with_context(|| format!("DNS name {name:?}"))
}
