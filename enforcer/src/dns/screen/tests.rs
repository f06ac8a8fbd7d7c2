use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use proptest::prelude::*;

use super::{screen_query, Screened};
use crate::dns::testing::{forwarded, matcher, name, query, with_edns};
use crate::dns::{DnsReason, DnsRefusal, NameMatcher};

fn names() -> NameMatcher {
    matcher(&["files.example.com", ".mirror.example.com"])
}

/// The decoded answer and refusal of a query that is answered at once.
fn answered(bytes: &[u8]) -> (Message, Option<DnsRefusal>) {
    match screen_query(bytes, &names()) {
        Screened::Answer { response, refusal } => (Message::from_vec(&response).unwrap(), refusal),
        other => panic!("not answered: {other:?}"),
    }
}

/// Checks what every error response has: the query's ID and RD, QR and RA, no records.
fn assert_error_response(response: &Message, request: &Message, code: ResponseCode) {
    assert_eq!(response.metadata.id, request.metadata.id);
    assert_eq!(response.metadata.message_type, MessageType::Response);
    assert_eq!(
        response.metadata.recursion_desired,
        request.metadata.recursion_desired
    );
    assert!(response.metadata.recursion_available);
    assert_eq!(response.metadata.response_code, code);
    assert!(response.answers.is_empty() && response.authorities.is_empty());
    assert!(response.additionals.is_empty());
}

#[test]
fn an_allowed_question_is_forwarded_as_spelled() {
    let request = query(7, "Files.Example.COM.", RecordType::A);
    let question = forwarded(&request, &names());
    assert_eq!(question.name.to_ascii(), "Files.Example.COM.");
    assert_eq!(question.qtype, RecordType::A);
    assert_eq!(question.request, request);
    assert_eq!(question.udp_limit, 512);
}

#[test]
fn every_allowed_type_is_forwarded() {
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::CNAME,
        RecordType::HTTPS,
        RecordType::SVCB,
    ];
    for qtype in types {
        let question = forwarded(&query(1, "a.mirror.example.com.", qtype), &names());
        assert_eq!(question.qtype, qtype);
    }
}

#[test]
fn the_udp_limit_is_the_edns_payload_clamped() {
    let limit = |payload| {
        let request = with_edns(query(1, "files.example.com.", RecordType::A), payload);
        forwarded(&request, &names()).udp_limit
    };
    assert_eq!(limit(1232), 1232);
    assert_eq!(limit(4096), 4096);
    assert_eq!(limit(65000), 4096);
    assert_eq!(limit(100), 512);
}

#[test]
fn input_too_short_or_too_long_is_dropped() {
    let bytes = query(1, "files.example.com.", RecordType::A)
        .to_vec()
        .unwrap();
    assert!(matches!(
        screen_query(&bytes[..11], &names()),
        Screened::Drop
    ));
    assert!(matches!(screen_query(&[], &names()), Screened::Drop));
    let mut long = bytes.clone();
    long.resize(4097, 0);
    assert!(matches!(screen_query(&long, &names()), Screened::Drop));
}

#[test]
fn a_response_is_dropped_even_when_it_does_not_decode() {
    let mut response = query(1, "files.example.com.", RecordType::A);
    response.metadata.message_type = MessageType::Response;
    let bytes = response.to_vec().unwrap();
    assert!(matches!(screen_query(&bytes, &names()), Screened::Drop));
    assert!(matches!(
        screen_query(&bytes[..14], &names()),
        Screened::Drop
    ));
}

#[test]
fn an_undecodable_query_gets_formerr_with_its_id() {
    let mut request = query(0xbeef, "files.example.com.", RecordType::A);
    request.metadata.recursion_desired = false;
    let bytes = request.to_vec().unwrap();
    let (response, refusal) = answered(&bytes[..bytes.len() - 3]);
    assert_error_response(&response, &request, ResponseCode::FormErr);
    assert!(response.queries.is_empty());
    assert_eq!(refusal, None);
    let (header_only, _) = answered(&bytes[..12]);
    assert_error_response(&header_only, &request, ResponseCode::FormErr);
}

#[test]
fn another_opcode_gets_notimp() {
    for op_code in [OpCode::Notify, OpCode::Update, OpCode::Status] {
        let mut request = query(3, "files.example.com.", RecordType::A);
        request.metadata.op_code = op_code;
        let (response, refusal) = answered(&request.to_vec().unwrap());
        assert_error_response(&response, &request, ResponseCode::NotImp);
        assert_eq!(response.queries, request.queries);
        assert_eq!(refusal, None);
    }
}

#[test]
fn other_than_one_question_gets_formerr() {
    let mut none = query(4, "files.example.com.", RecordType::A);
    none.queries.clear();
    let (response, _) = answered(&none.to_vec().unwrap());
    assert_error_response(&response, &none, ResponseCode::FormErr);

    let mut two = query(5, "files.example.com.", RecordType::A);
    two.add_query(Query::query(name("evil.net."), RecordType::A));
    let (response, refusal) = answered(&two.to_vec().unwrap());
    assert_error_response(&response, &two, ResponseCode::FormErr);
    assert!(response.queries.is_empty());
    assert_eq!(refusal, None);
}

#[test]
fn another_class_is_refused() {
    let mut request = query(6, "files.example.com.", RecordType::A);
    request.queries[0].set_query_class(DNSClass::CH);
    let (response, refusal) = answered(&request.to_vec().unwrap());
    assert_error_response(&response, &request, ResponseCode::Refused);
    assert_eq!(response.queries, request.queries);
    assert_eq!(refusal, None);
}

#[test]
fn other_types_are_refused() {
    let types = [
        RecordType::TXT,
        RecordType::NULL,
        RecordType::ANY,
        RecordType::AXFR,
        RecordType::IXFR,
        RecordType::MX,
        RecordType::SRV,
        RecordType::PTR,
        RecordType::NS,
        RecordType::SOA,
        RecordType::Unknown(65280),
    ];
    for qtype in types {
        let request = query(8, "Files.example.com.", qtype);
        let (response, refusal) = answered(&request.to_vec().unwrap());
        assert_error_response(&response, &request, ResponseCode::Refused);
        assert_eq!(response.queries, request.queries);
        let refusal = refusal.expect("a refusal");
        assert_eq!(refusal.reason, DnsReason::TypeNotAllowed);
        assert_eq!(refusal.name, "files.example.com");
    }
}

#[test]
fn a_refusal_names_the_type_as_dig_does() {
    let qtype_of = |qtype| {
        let request = query(9, "files.example.com.", qtype);
        answered(&request.to_vec().unwrap()).1.unwrap().qtype
    };
    assert_eq!(qtype_of(RecordType::TXT), "TXT");
    assert_eq!(qtype_of(RecordType::Unknown(65280)), "TYPE65280");
}

#[test]
fn a_name_not_allowed_is_refused() {
    for qname in [
        "Blocked.Example.COM.",
        "example.com.",
        "evilmirror.example.com.",
    ] {
        let request = query(10, qname, RecordType::AAAA);
        let (response, refusal) = answered(&request.to_vec().unwrap());
        assert_error_response(&response, &request, ResponseCode::Refused);
        assert_eq!(response.queries, request.queries);
        let expected = DnsRefusal {
            name: qname.trim_end_matches('.').to_ascii_lowercase(),
            qtype: "AAAA".to_owned(),
            reason: DnsReason::NameNotAllowed,
        };
        assert_eq!(refusal, Some(expected));
    }
}

#[test]
fn error_responses_carry_our_edns_when_the_query_did() {
    let request = with_edns(query(11, "blocked.example.com.", RecordType::A), 4096);
    let (response, _) = answered(&request.to_vec().unwrap());
    assert_eq!(response.edns.map(|edns| edns.max_payload()), Some(1232));
    let plain = query(12, "blocked.example.com.", RecordType::A);
    assert_eq!(answered(&plain.to_vec().unwrap()).0.edns, None);
}

const TYPES: [RecordType; 8] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::HTTPS,
    RecordType::SVCB,
    RecordType::TXT,
    RecordType::ANY,
    RecordType::NULL,
];

const NAMES: [&str; 6] = [
    "files.example.com.",
    "FILES.example.com",
    "x.mirror.example.com.",
    "example.com.",
    "evil.net.",
    "files.example.com.evil.net.",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_nor_forward_what_is_not_allowed(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        if let Screened::Forward(question) = screen_query(&bytes, &names()) {
            prop_assert!(names().allows(&question.name));
            prop_assert!(TYPES[..5].contains(&question.qtype));
        }
    }

    #[test]
    fn a_query_is_forwarded_exactly_when_its_name_and_type_are_allowed(
        id in any::<u16>(),
        qname in proptest::sample::select(&NAMES[..]),
        qtype in proptest::sample::select(&TYPES[..]),
        mangle in prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
    ) {
        let mut bytes = query(id, qname, qtype).to_vec().unwrap();
        if let Some((at, byte)) = mangle {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        let allowed = |name, qtype| names().allows(name) && TYPES[..5].contains(&qtype);
        match screen_query(&bytes, &names()) {
            Screened::Forward(question) => prop_assert!(allowed(&question.name, question.qtype)),
            Screened::Answer { .. } | Screened::Drop => {
                prop_assert!(mangle.is_some() || !allowed(&name(qname), qtype));
            }
        }
    }
}
