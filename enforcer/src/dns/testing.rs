//! Builders the DNS tests share: names, queries, records, upstream replies.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{screen_query, NameMatcher, Question, Screened};
use crate::spec::DomainSet;

pub fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

pub fn matcher(entries: &[&str]) -> NameMatcher {
    NameMatcher::new(&DomainSet::parse(entries).unwrap())
}

/// A recursive query for `qname`/`qtype`, without EDNS.
pub fn query(id: u16, qname: &str, qtype: RecordType) -> Message {
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name(qname), qtype));
    query
}

/// `query` with an EDNS record advertising `payload`.
pub fn with_edns(mut query: Message, payload: u16) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    query.set_edns(edns);
    query
}

/// `query` as screened for a task allowed `names`; panics unless it is forwarded.
pub fn forwarded(query: &Message, names: &NameMatcher) -> Question {
    match screen_query(&query.to_vec().unwrap(), names) {
        Screened::Forward(question) => question,
        other => panic!("not forwarded: {other:?}"),
    }
}

/// An empty NOERROR reply to `query`, its question echoed.
pub fn reply_to(query: &Message) -> Message {
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.recursion_available = true;
    reply.queries = query.queries.clone();
    reply
}

pub fn a(owner: &str, ip: Ipv4Addr, ttl: u32) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A(ip)))
}

pub fn aaaa(owner: &str, ip: Ipv6Addr, ttl: u32) -> Record {
    Record::from_rdata(name(owner), ttl, RData::AAAA(AAAA(ip)))
}

pub fn cname(owner: &str, target: &str, ttl: u32) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
}
