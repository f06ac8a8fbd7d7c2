//! The lab's DNS data: A and AAAA records given on the command line.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Short, so a resolver in front of the lab re-asks soon.
const TTL: u32 = 60;

/// Names and their addresses.
pub struct Zone {
    records: HashMap<String, Vec<IpAddr>>,
}

/// The form names are stored and logged in: lowercase, no trailing dot.
pub fn zone_key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// A zone of `(name, address)` records, names as made by [`zone_key`].
    pub fn new(records: &[(String, IpAddr)]) -> Zone {
        let mut by_name: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in records {
            by_name.entry(name.clone()).or_default().push(*ip);
        }
        Zone { records: by_name }
    }

    /// The response to `request`: the records of the first question's type,
    /// NXDOMAIN for unknown names, NOERROR without answers for a known name
    /// without records of that type.
    pub fn answer(&self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        let Some(query) = request.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };
        response.add_query(query.clone());
        let Some(ips) = self.records.get(&name_key(query.name())) else {
            response.metadata.response_code = ResponseCode::NXDomain;
            return response;
        };
        for ip in ips {
            let data = match (ip, query.query_type()) {
                (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                _ => continue,
            };
            response.add_answer(Record::from_rdata(query.name().clone(), TTL, data));
        }
        response
    }
}

/// [`zone_key`] of a DNS name.
pub fn name_key(name: &Name) -> String {
    zone_key(&name.to_ascii())
}
