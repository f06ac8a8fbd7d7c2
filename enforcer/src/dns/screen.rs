//! Judges a task's query before anything about it leaves the node.

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::answer::encode;
use super::{DnsReason, DnsRefusal, NameMatcher};

/// A DNS header's length; shorter input is no DNS message at all.
const HEADER_LEN: usize = 12;
/// The largest query taken; no honest query of one question comes near it.
const MAX_QUERY_LEN: usize = 4096;
/// What a client without EDNS may receive over UDP (RFC 1035).
const PLAIN_UDP_LIMIT: u16 = 512;
/// The most we ever send over UDP, whatever a client's EDNS claims.
const MAX_UDP_LIMIT: u16 = 4096;
/// The UDP payload size we advertise in EDNS: the DNS Flag Day 2020 value, which avoids IP
/// fragmentation on every common path.
pub(super) const EDNS_PAYLOAD: u16 = 1232;

/// A query that passed [`screen_query`], to be asked upstream.
#[derive(Debug, Clone)]
pub struct Question {
    /// The decoded query, as the task sent it.
    pub request: Message,
    /// Its only question's name, as the task spelled it.
    pub name: Name,
    /// Its only question's type.
    pub qtype: RecordType,
    /// The largest UDP response the client takes: 512, or its EDNS payload size clamped to
    /// 512..=4096.
    pub udp_limit: u16,
}

/// What to do with a task's query.
#[derive(Debug)]
pub enum Screened {
    /// Allowed: ask the upstream.
    Forward(Question),
    /// Answer the task with `response` at once; `refusal` says why, when policy refused it.
    Answer {
        response: Vec<u8>,
        refusal: Option<DnsRefusal>,
    },
    /// Not a query (a response, or too short or long to be one): answer nothing.
    Drop,
}

/// Judges the raw query `bytes` of a task whose names `names` allows.
///
/// Drops input that is no query; answers FORMERR to an undecodable one, NOTIMP to an opcode
/// other than QUERY, FORMERR to other than one question, REFUSED to a class other than IN, to
/// a type other than A, AAAA, CNAME, HTTPS and SVCB, and to a name not allowed. Forwards the
/// rest.
pub fn screen_query(bytes: &[u8], names: &NameMatcher) -> Screened {
    if !(HEADER_LEN..=MAX_QUERY_LEN).contains(&bytes.len()) {
        return Screened::Drop;
    }
    let Ok(header) = Header::read(&mut BinDecoder::new(&bytes[..HEADER_LEN])) else {
        return Screened::Drop;
    };
    // Answering responses would let two resolvers bounce a message between them forever.
    if header.metadata.message_type == MessageType::Response {
        return Screened::Drop;
    }
    match Message::from_vec(bytes) {
        Ok(request) => judge(request, names),
        Err(_) => reply(&header_only(header), ResponseCode::FormErr, None),
    }
}

/// Judges a decoded query.
fn judge(request: Message, names: &NameMatcher) -> Screened {
    if request.metadata.op_code != OpCode::Query {
        return reply(&request, ResponseCode::NotImp, None);
    }
    let [query] = request.queries.as_slice() else {
        return reply(&request, ResponseCode::FormErr, None);
    };
    let (name, qtype) = (query.name().clone(), query.query_type());
    if query.query_class() != DNSClass::IN {
        return reply(&request, ResponseCode::Refused, None);
    }
    let reason = if !is_allowed_type(qtype) {
        DnsReason::TypeNotAllowed
    } else if !names.allows(&name) {
        DnsReason::NameNotAllowed
    } else {
        let udp_limit = udp_limit(&request);
        return Screened::Forward(Question {
            request,
            name,
            qtype,
            udp_limit,
        });
    };
    let refusal = DnsRefusal::new(&name, qtype, reason);
    reply(&request, ResponseCode::Refused, Some(refusal))
}

/// The types that lead to an address or to another name: everything a client needs to open a
/// connection, and nothing that carries free-form data out or in (TXT, NULL) or lists a zone.
fn is_allowed_type(qtype: RecordType) -> bool {
    matches!(
        qtype,
        RecordType::A | RecordType::AAAA | RecordType::CNAME | RecordType::HTTPS | RecordType::SVCB
    )
}

/// The largest UDP response the client of `request` takes.
fn udp_limit(request: &Message) -> u16 {
    request.edns.as_ref().map_or(PLAIN_UDP_LIMIT, |edns| {
        edns.max_payload().clamp(PLAIN_UDP_LIMIT, MAX_UDP_LIMIT)
    })
}

/// A query with nothing but `header`, for answering one whose body does not decode.
fn header_only(header: Header) -> Message {
    let mut request = Message::new(header.id, header.message_type, header.op_code);
    request.metadata = header.metadata;
    request
}

/// Answers `request` at once with the bare response `code`.
fn reply(request: &Message, code: ResponseCode, refusal: Option<DnsRefusal>) -> Screened {
    Screened::Answer {
        response: encode(&response_to(request, code)),
        refusal,
    }
}

/// A fresh response to `request` with no records: its ID and RD, QR and RA set, its question
/// echoed when it has exactly one, and our OPT record when it sent one.
pub(super) fn response_to(request: &Message, code: ResponseCode) -> Message {
    let mut response = Message::error_msg(request.metadata.id, request.metadata.op_code, code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    if let [query] = request.queries.as_slice() {
        response.add_query(query.clone());
    }
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        response.set_edns(edns);
    }
    response
}

#[cfg(test)]
mod tests;
