//! The lab's DNS names: [`NAME`], the lab's server, and the numbered names
//! `<n>.bench.lab.test`, each with an address of its own in [`NAMES_NET`], so that every
//! lookup of a new one hands out an address not handed out before.

use std::net::Ipv4Addr;

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{rdata::A, RData, Record, RecordType},
};

use crate::bench::lab::{NAMES_NET, SERVER_V4};

pub const NAME: &str = "bench.lab.test";
/// TTL of every answer.
const TTL: u32 = 300;
/// Numbered names run from 1 to this: the range less its first and last address.
pub const NAME_SLOTS: u32 = (1 << (32 - NAMES_NET.1)) - 2;

/// The `n`th numbered name.
pub fn numbered(n: u32) -> String {
    format!("{n}.{NAME}")
}

/// The address of `name` (lowercase, without the trailing dot).
fn address(name: &str) -> Option<Ipv4Addr> {
    if name == NAME {
        return Some(SERVER_V4);
    }
    let n: u32 = name.strip_suffix(NAME)?.strip_suffix('.')?.parse().ok()?;
    (1..=NAME_SLOTS)
        .contains(&n)
        .then(|| Ipv4Addr::from(u32::from(NAMES_NET.0) + n))
}

/// The response to `request`'s first question: NXDOMAIN for a name not in the zone, no
/// records for a type other than A.
pub fn answer(request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    response.add_query(query.clone());
    let name = query.name().to_ascii();
    match address(&name.trim_end_matches('.').to_ascii_lowercase()) {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(addr) if query.query_type() == RecordType::A => {
            let record = Record::from_rdata(query.name().clone(), TTL, RData::A(A(addr)));
            response.add_answer(record);
        }
        Some(_) => {}
    }
    response
}
