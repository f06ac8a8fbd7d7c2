use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::svcb::{
    Alpn, EchConfigList, IpHint, Mandatory, SvcParamKey, SvcParamValue,
};
use hickory_proto::rr::rdata::{A, AAAA, HTTPS, SOA, SVCB};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use proptest::prelude::*;

use super::{encode, encode_for_udp, error_response, filter_answer, Filtered, Grant};
use crate::dns::testing::{a, aaaa, cname, forwarded, matcher, name, query, reply_to, with_edns};
use crate::dns::{DnsReason, DnsRefusal, NameMatcher, Question, Rebinding};
use crate::enforcement::AllowedNet;

const MAX_TTL: u32 = 300;
const NODE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const PUBLIC_2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

fn names() -> NameMatcher {
    matcher(&[
        "files.example.com",
        ".cdn.example.com",
        ".mirror.example.com",
    ])
}

fn rebinding() -> Rebinding {
    let allowed = AllowedNet {
        addr: IpAddr::V4(Ipv4Addr::new(10, 9, 0, 0)),
        prefix_len: 16,
    };
    Rebinding::new(vec![allowed], vec![IpAddr::V4(NODE)])
}

fn question(qname: &str, qtype: RecordType) -> Question {
    forwarded(&query(0x1234, qname, qtype), &names())
}

/// The upstream's NOERROR reply to `question` with `answers`.
fn upstream(question: &Question, answers: Vec<Record>) -> Message {
    let mut reply = reply_to(&question.request);
    reply.metadata.id = 0x9999;
    reply.answers = answers;
    reply
}

fn filter(question: &Question, upstream: &Message) -> Filtered {
    filter_answer(question, upstream, &names(), &rebinding(), MAX_TTL)
}

fn grant(owner: &str, ip: impl Into<IpAddr>, ttl: u32) -> Grant {
    Grant {
        name: owner.to_owned(),
        addr: ip.into(),
        ttl,
    }
}

fn assert_no_records(filtered: &Filtered, code: ResponseCode) {
    assert_eq!(filtered.response.metadata.response_code, code);
    assert!(filtered.response.answers.is_empty());
    assert!(filtered.grants.is_empty());
}

#[test]
fn an_allowed_address_is_granted_and_passed_on_with_a_capped_ttl() {
    let question = question("Files.Example.com.", RecordType::A);
    let reply = upstream(&question, vec![a("files.example.com.", PUBLIC, 3600)]);
    let filtered = filter(&question, &reply);
    assert_eq!(filtered.grants, [grant("files.example.com", PUBLIC, 3600)]);
    assert!(filtered.refusals.is_empty());
    assert_eq!(
        filtered.response.answers,
        [a("files.example.com.", PUBLIC, MAX_TTL)]
    );
}

#[test]
fn the_response_has_the_task_s_header_and_question() {
    let mut request = query(0x4321, "FILES.example.com.", RecordType::A);
    request.metadata.recursion_desired = false;
    let question = forwarded(&request, &names());
    let mut reply = upstream(&question, vec![a("files.example.com.", PUBLIC, 60)]);
    reply.queries[0].set_name(name("files.example.com."));
    reply.metadata.authoritative = true;
    let response = filter(&question, &reply).response;
    assert_eq!(response.metadata.id, 0x4321);
    assert!(!response.metadata.recursion_desired);
    assert!(response.metadata.recursion_available);
    assert!(!response.metadata.authoritative);
    assert_eq!(response.queries, request.queries);
    assert_eq!(response.queries[0].name().to_ascii(), "FILES.example.com.");
}

#[test]
fn a_reply_to_another_question_is_servfail() {
    let question = question("files.example.com.", RecordType::A);
    let answer = a("files.example.com.", PUBLIC, 60);
    let mut other_name = upstream(&question, vec![answer.clone()]);
    other_name.queries[0].set_name(name("x.cdn.example.com."));
    let mut other_type = upstream(&question, vec![answer.clone()]);
    other_type.queries[0].set_query_type(RecordType::AAAA);
    let mut other_class = upstream(&question, vec![answer.clone()]);
    other_class.queries[0].set_query_class(DNSClass::CH);
    let mut no_question = upstream(&question, vec![answer.clone()]);
    no_question.queries.clear();
    let mut a_query = upstream(&question, vec![answer]);
    a_query.metadata.message_type = hickory_proto::op::MessageType::Query;
    for reply in [other_name, other_type, other_class, no_question, a_query] {
        let filtered = filter(&question, &reply);
        assert_no_records(&filtered, ResponseCode::ServFail);
        assert_eq!(filtered.response.queries, question.request.queries);
    }
}

#[test]
fn the_upstream_response_code_is_relayed_or_becomes_servfail() {
    let question = question("files.example.com.", RecordType::A);
    let cases = [
        (ResponseCode::NoError, ResponseCode::NoError),
        (ResponseCode::NXDomain, ResponseCode::NXDomain),
        (ResponseCode::ServFail, ResponseCode::ServFail),
        (ResponseCode::Refused, ResponseCode::ServFail),
        (ResponseCode::FormErr, ResponseCode::ServFail),
        (ResponseCode::NotImp, ResponseCode::ServFail),
        (ResponseCode::BADVERS, ResponseCode::ServFail),
    ];
    for (upstream_code, relayed) in cases {
        let mut reply = upstream(&question, Vec::new());
        reply.metadata.response_code = upstream_code;
        assert_eq!(
            filter(&question, &reply).response.metadata.response_code,
            relayed
        );
    }
}

#[test]
fn authority_and_additional_records_are_never_passed_on() {
    let question = question("files.example.com.", RecordType::A);
    let mut reply = upstream(&question, vec![a("files.example.com.", PUBLIC, 60)]);
    let soa = SOA::new(
        name("ns.example.com."),
        name("h.example.com."),
        1,
        2,
        3,
        4,
        5,
    );
    reply.add_authority(Record::from_rdata(
        name("example.com."),
        60,
        RData::SOA(soa),
    ));
    reply.add_additional(a("files.example.com.", PUBLIC_2, 60));
    let filtered = filter(&question, &reply);
    assert!(filtered.response.authorities.is_empty());
    assert!(filtered.response.additionals.is_empty());
    assert_eq!(filtered.grants, [grant("files.example.com", PUBLIC, 60)]);
}

#[test]
fn the_response_carries_our_edns_only_when_the_task_sent_edns() {
    let request = with_edns(query(1, "files.example.com.", RecordType::A), 4096);
    let with = forwarded(&request, &names());
    let mut reply = upstream(&with, Vec::new());
    reply.edns = with.request.edns.clone();
    let edns = filter(&with, &reply).response.edns.expect("an OPT record");
    assert_eq!(edns.max_payload(), 1232);
    assert!(edns.options().as_ref().is_empty());
    let without = question("files.example.com.", RecordType::A);
    assert_eq!(filter(&without, &reply).response.edns, None);
}

#[test]
fn a_cname_chain_inside_the_allowed_names_is_followed() {
    let question = question("files.example.com.", RecordType::A);
    let answers = vec![
        a("edge.cdn.example.com.", PUBLIC, 30),
        cname("x.mirror.example.com.", "edge.cdn.example.com.", 900),
        cname("FILES.example.com.", "x.mirror.example.com.", 60),
    ];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("edge.cdn.example.com", PUBLIC, 30)]);
    let expected = [
        cname("FILES.example.com.", "x.mirror.example.com.", 60),
        cname("x.mirror.example.com.", "edge.cdn.example.com.", MAX_TTL),
        a("edge.cdn.example.com.", PUBLIC, 30),
    ];
    assert_eq!(filtered.response.answers, expected);
}

#[test]
fn a_cname_leaving_the_allowed_names_refuses_everything() {
    let question = question("files.example.com.", RecordType::A);
    let answers = vec![
        cname("files.example.com.", "x.cdn.example.com.", 60),
        cname("x.cdn.example.com.", "Evil.NET.", 60),
        a("evil.net.", PUBLIC, 60),
        a("files.example.com.", PUBLIC_2, 60),
    ];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_no_records(&filtered, ResponseCode::Refused);
    let refusal = DnsRefusal {
        name: "files.example.com".to_owned(),
        qtype: "A".to_owned(),
        reason: DnsReason::CnameOutside {
            target: "evil.net".to_owned(),
        },
    };
    assert_eq!(filtered.refusals, [refusal]);
}

#[test]
fn only_the_chain_end_s_addresses_are_granted() {
    let question = question("files.example.com.", RecordType::A);
    let answers = vec![
        a("files.example.com.", PUBLIC_2, 60),
        cname("files.example.com.", "x.cdn.example.com.", 60),
        a("x.cdn.example.com.", PUBLIC, 60),
        a("y.cdn.example.com.", Ipv4Addr::new(192, 0, 2, 99), 60),
        a("evil.net.", Ipv4Addr::new(192, 0, 2, 98), 60),
    ];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("x.cdn.example.com", PUBLIC, 60)]);
    assert_eq!(filtered.response.answers.len(), 2);
}

#[test]
fn extra_records_for_other_names_are_dropped() {
    let question = question("files.example.com.", RecordType::A);
    let answers = vec![
        a("files.example.com.", PUBLIC, 60),
        a("evil.net.", PUBLIC_2, 60),
        cname("other.cdn.example.com.", "evil.net.", 60),
    ];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("files.example.com", PUBLIC, 60)]);
    assert_eq!(
        filtered.response.answers,
        [a("files.example.com.", PUBLIC, 60)]
    );
    assert!(filtered.refusals.is_empty());
}

#[test]
fn records_of_another_type_or_class_are_dropped() {
    let question = question("files.example.com.", RecordType::A);
    let mut chaos = a("files.example.com.", PUBLIC_2, 60);
    chaos.dns_class = DNSClass::CH;
    let v6 = aaaa("files.example.com.", "2001:db8::1".parse().unwrap(), 60);
    let answers = vec![chaos, v6, a("files.example.com.", PUBLIC, 60)];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("files.example.com", PUBLIC, 60)]);
    assert_eq!(filtered.response.answers.len(), 1);
}

#[test]
fn a_cname_loop_ends_the_chain() {
    let question = question("a.cdn.example.com.", RecordType::A);
    let answers = vec![
        cname("a.cdn.example.com.", "b.cdn.example.com.", 60),
        cname("b.cdn.example.com.", "A.cdn.example.com.", 60),
        a("b.cdn.example.com.", PUBLIC, 60),
    ];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("b.cdn.example.com", PUBLIC, 60)]);
    assert_eq!(filtered.response.answers.len(), 2);
}

#[test]
fn a_chain_is_followed_for_at_most_sixteen_hops() {
    let question = question("c0.cdn.example.com.", RecordType::A);
    let hop = |i: usize| format!("c{i}.cdn.example.com.");
    let mut answers: Vec<Record> = (0..20).map(|i| cname(&hop(i), &hop(i + 1), 60)).collect();
    answers.push(a(&hop(16), PUBLIC, 60));
    answers.push(a(&hop(20), PUBLIC_2, 60));
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("c16.cdn.example.com", PUBLIC, 60)]);
    assert_eq!(filtered.response.answers.len(), 17);
}

#[test]
fn a_cname_question_gets_the_cname_when_its_target_is_allowed() {
    let question = question("files.example.com.", RecordType::CNAME);
    let inside = vec![cname("files.example.com.", "x.cdn.example.com.", 60)];
    let filtered = filter(&question, &upstream(&question, inside.clone()));
    assert_eq!(filtered.response.answers, inside);
    assert!(filtered.grants.is_empty());
    let outside = vec![cname("files.example.com.", "evil.net.", 60)];
    let filtered = filter(&question, &upstream(&question, outside));
    assert_no_records(&filtered, ResponseCode::Refused);
}

#[test]
fn internal_and_node_addresses_are_dropped_and_reported() {
    let question = question("files.example.com.", RecordType::A);
    let metadata = Ipv4Addr::new(169, 254, 169, 254);
    let allowed_internal = Ipv4Addr::new(10, 9, 1, 1);
    let answers = vec![
        a("files.example.com.", Ipv4Addr::LOCALHOST, 60),
        a("files.example.com.", metadata, 60),
        a("files.example.com.", NODE, 60),
        a("files.example.com.", allowed_internal, 60),
        a("files.example.com.", PUBLIC, 60),
    ];
    let filtered = filter(&question, &upstream(&question, answers));
    let expected = [
        grant("files.example.com", allowed_internal, 60),
        grant("files.example.com", PUBLIC, 60),
    ];
    assert_eq!(filtered.grants, expected);
    assert_eq!(filtered.response.answers.len(), 2);
    let reasons: Vec<DnsReason> = filtered.refusals.into_iter().map(|r| r.reason).collect();
    let expected_reasons = [
        DnsReason::Internal {
            addr: Ipv4Addr::LOCALHOST.into(),
        },
        DnsReason::Internal {
            addr: metadata.into(),
        },
        DnsReason::NodeAddress { addr: NODE.into() },
    ];
    assert_eq!(reasons, expected_reasons);
}

#[test]
fn a_mapped_aaaa_is_judged_and_granted_as_its_ipv4_address() {
    let question = question("files.example.com.", RecordType::AAAA);
    let mapped = |v4: Ipv4Addr| aaaa("files.example.com.", v4.to_ipv6_mapped(), 60);
    let answers = vec![
        mapped(PUBLIC),
        mapped(Ipv4Addr::new(10, 0, 0, 1)),
        mapped(NODE),
    ];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("files.example.com", PUBLIC, 60)]);
    assert_eq!(filtered.response.answers, [mapped(PUBLIC)]);
    let reasons: Vec<DnsReason> = filtered.refusals.into_iter().map(|r| r.reason).collect();
    let internal = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let expected = [
        DnsReason::Internal { addr: internal },
        DnsReason::NodeAddress { addr: NODE.into() },
    ];
    assert_eq!(reasons, expected);
}

#[test]
fn an_aaaa_is_granted_as_is() {
    let question = question("files.example.com.", RecordType::AAAA);
    let v6: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let loopback = aaaa("files.example.com.", Ipv6Addr::LOCALHOST, 60);
    let answers = vec![aaaa("files.example.com.", v6, 60), loopback];
    let filtered = filter(&question, &upstream(&question, answers));
    assert_eq!(filtered.grants, [grant("files.example.com", v6, 60)]);
    assert_eq!(filtered.refusals.len(), 1);
}

fn svcb(params: Vec<(SvcParamKey, SvcParamValue)>) -> SVCB {
    SVCB::new(1, name("."), params)
}

fn hinted_params() -> Vec<(SvcParamKey, SvcParamValue)> {
    let mandatory = vec![SvcParamKey::Alpn, SvcParamKey::Ipv4Hint];
    let v4_hint = IpHint(vec![A(Ipv4Addr::LOCALHOST)]);
    let v6_hint = IpHint(vec![AAAA(Ipv6Addr::LOCALHOST)]);
    vec![
        (
            SvcParamKey::Mandatory,
            SvcParamValue::Mandatory(Mandatory(mandatory)),
        ),
        (
            SvcParamKey::Alpn,
            SvcParamValue::Alpn(Alpn(vec!["h2".to_owned()])),
        ),
        (SvcParamKey::Port, SvcParamValue::Port(8443)),
        (SvcParamKey::Ipv4Hint, SvcParamValue::Ipv4Hint(v4_hint)),
        (
            SvcParamKey::EchConfigList,
            SvcParamValue::EchConfigList(EchConfigList(vec![1, 2, 3])),
        ),
        (SvcParamKey::Ipv6Hint, SvcParamValue::Ipv6Hint(v6_hint)),
    ]
}

fn unhinted_params() -> Vec<(SvcParamKey, SvcParamValue)> {
    vec![
        (
            SvcParamKey::Mandatory,
            SvcParamValue::Mandatory(Mandatory(vec![SvcParamKey::Alpn])),
        ),
        (
            SvcParamKey::Alpn,
            SvcParamValue::Alpn(Alpn(vec!["h2".to_owned()])),
        ),
        (SvcParamKey::Port, SvcParamValue::Port(8443)),
    ]
}

#[test]
fn https_records_lose_ech_and_address_hints() {
    let question = question("files.example.com.", RecordType::HTTPS);
    let https = |params| RData::HTTPS(HTTPS(svcb(params)));
    let owner = name("files.example.com.");
    let record = Record::from_rdata(owner.clone(), 600, https(hinted_params()));
    let other = Record::from_rdata(name("x.cdn.example.com."), 60, https(hinted_params()));
    let filtered = filter(&question, &upstream(&question, vec![record, other]));
    let expected = Record::from_rdata(owner, MAX_TTL, https(unhinted_params()));
    assert_eq!(filtered.response.answers, [expected]);
    assert!(filtered.grants.is_empty());
    assert!(encode(&filtered.response).len() > 12);
}

#[test]
fn svcb_records_lose_ech_and_address_hints() {
    let question = question("_x._tcp.mirror.example.com.", RecordType::SVCB);
    let owner = name("_x._tcp.mirror.example.com.");
    let record = Record::from_rdata(owner.clone(), 60, RData::SVCB(svcb(hinted_params())));
    let filtered = filter(&question, &upstream(&question, vec![record]));
    let expected = Record::from_rdata(owner, 60, RData::SVCB(svcb(unhinted_params())));
    assert_eq!(filtered.response.answers, [expected]);
}

#[test]
fn a_mandatory_list_of_only_withheld_keys_goes_too() {
    let question = question("files.example.com.", RecordType::HTTPS);
    let mandatory = Mandatory(vec![SvcParamKey::Ipv4Hint]);
    let hint = IpHint(vec![A(PUBLIC)]);
    let params = vec![
        (SvcParamKey::Mandatory, SvcParamValue::Mandatory(mandatory)),
        (SvcParamKey::Ipv4Hint, SvcParamValue::Ipv4Hint(hint)),
    ];
    let data = RData::HTTPS(HTTPS(svcb(params)));
    let record = Record::from_rdata(name("files.example.com."), 60, data);
    let filtered = filter(&question, &upstream(&question, vec![record]));
    let kept = Record::from_rdata(
        name("files.example.com."),
        60,
        RData::HTTPS(HTTPS(svcb(vec![]))),
    );
    assert_eq!(filtered.response.answers, [kept]);
}

#[test]
fn a_response_too_big_for_udp_is_truncated_to_its_question() {
    let question = question("files.example.com.", RecordType::A);
    let answers = (0..100)
        .map(|i| a("files.example.com.", Ipv4Addr::new(192, 0, 2, i), 60))
        .collect();
    let response = filter(&question, &upstream(&question, answers)).response;
    let whole = encode(&response);
    assert!(whole.len() > 512);
    assert_eq!(encode_for_udp(&response, 4096), whole);
    let truncated = Message::from_vec(&encode_for_udp(&response, 512)).unwrap();
    assert!(truncated.metadata.truncation);
    assert_eq!(truncated.metadata.id, response.metadata.id);
    assert_eq!(truncated.metadata.response_code, ResponseCode::NoError);
    assert_eq!(truncated.queries, response.queries);
    assert!(truncated.answers.is_empty());
}

#[test]
fn an_error_response_answers_the_task_s_question_without_records() {
    let request = with_edns(query(0x5678, "Files.example.com.", RecordType::A), 4096);
    let question = forwarded(&request, &names());
    let bytes = error_response(&question, ResponseCode::ServFail);
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.metadata.id, 0x5678);
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    assert!(response.metadata.recursion_desired && response.metadata.recursion_available);
    assert_eq!(response.queries, request.queries);
    assert!(response.answers.is_empty());
    assert_eq!(response.edns.map(|edns| edns.max_payload()), Some(1232));
}

#[test]
fn a_response_encodes_and_decodes_back() {
    let question = question("files.example.com.", RecordType::A);
    let reply = upstream(&question, vec![a("files.example.com.", PUBLIC, 60)]);
    let response = filter(&question, &reply).response;
    assert_eq!(Message::from_vec(&encode(&response)).unwrap(), response);
}

/// Owners and targets for generated answers: three allowed names, two not.
const OWNERS: [&str; 5] = [
    "files.example.com.",
    "a.cdn.example.com.",
    "b.mirror.example.com.",
    "evil.net.",
    "x.evil.net.",
];

/// Addresses for generated answers: public, internal, allowed internal, the node's.
fn address() -> impl Strategy<Value = IpAddr> {
    let listed: Vec<IpAddr> = [
        "192.0.2.1",
        "127.0.0.1",
        "10.9.3.4",
        "10.1.1.1",
        "203.0.113.5",
        "::ffff:203.0.113.5",
        "::ffff:192.0.2.7",
        "fd00::1",
        "2001:db8::1",
    ]
    .iter()
    .map(|text| text.parse().unwrap())
    .collect();
    prop_oneof![
        proptest::sample::select(listed),
        any::<u32>().prop_map(|bits| IpAddr::V4(bits.into())),
        any::<u128>().prop_map(|bits| IpAddr::V6(bits.into())),
    ]
}

/// An owner from [`OWNERS`] in random case.
fn owner() -> impl Strategy<Value = String> {
    (proptest::sample::select(&OWNERS[..]), any::<bool>()).prop_map(|(owner, upper)| {
        if upper {
            owner.to_uppercase()
        } else {
            owner.to_owned()
        }
    })
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        (owner(), owner()).prop_map(|(from, to)| cname(&from, &to, 60)),
        (owner(), address()).prop_map(|(owner, ip)| match ip {
            IpAddr::V4(v4) => a(&owner, v4, 60),
            IpAddr::V6(v6) => aaaa(&owner, v6, 60),
        }),
    ]
}

/// Where the upstream's CNAMEs lead from `start`, followed as far as the filter may: whether
/// they leave the allowed names.
fn leaves_allowed_names(upstream: &Message, start: &str) -> bool {
    let mut at = name(start);
    for _ in 0..16 {
        let next = upstream
            .answers
            .iter()
            .find_map(|record| match &record.data {
                RData::CNAME(target) if record.name.eq_ignore_root(&at) => Some(target.0.clone()),
                _ => None,
            });
        match next {
            Some(target) if !names().allows(&target) => return true,
            Some(target) => at = target,
            None => return false,
        }
    }
    false
}

/// The end of the CNAME chain the response itself shows from the question's name.
fn response_chain_end(response: &Message) -> String {
    let mut at = response.queries[0].name().clone();
    for record in &response.answers {
        if let RData::CNAME(target) = &record.data {
            assert!(record.name.eq_ignore_root(&at), "the CNAMEs form one chain");
            at = target.0.clone();
        }
    }
    crate::dns::refusal::name_text(&at)
}

/// Whether the upstream has an address record owned by `owner` that is `addr`.
fn upstream_has(upstream: &Message, owner: &str, addr: IpAddr) -> bool {
    upstream.answers.iter().any(|record| {
        let ip = match &record.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0).to_canonical(),
            _ => return false,
        };
        crate::dns::refusal::name_text(&record.name) == owner && ip == addr
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn grants_only_safe_addresses_of_the_chain_end(
        qname in proptest::sample::select(&OWNERS[..3]),
        qtype in proptest::sample::select(&[RecordType::A, RecordType::AAAA][..]),
        answers in prop::collection::vec(record(), 0..12),
    ) {
        let question = question(qname, qtype);
        let reply = upstream(&question, answers);
        let filtered = filter(&question, &reply);
        if leaves_allowed_names(&reply, qname) {
            prop_assert!(filtered.grants.is_empty());
            prop_assert_eq!(filtered.response.metadata.response_code, ResponseCode::Refused);
            prop_assert!(filtered.response.answers.is_empty());
            return Ok(());
        }
        let end = response_chain_end(&filtered.response);
        prop_assert!(names().allows(&name(&end)));
        for grant in &filtered.grants {
            prop_assert_eq!(&grant.name, &end);
            prop_assert_eq!(rebinding().verdict(grant.addr), None);
            prop_assert!(upstream_has(&reply, &grant.name, grant.addr));
        }
        let addresses = filtered.response.answers.iter().filter(|r| r.record_type() == qtype);
        prop_assert_eq!(addresses.count(), filtered.grants.len());
    }
}

#[test]
fn an_answer_over_the_cap_keeps_its_first_addresses_in_grants_and_response() {
    let question = question("files.example.com", RecordType::A);
    let answers = (1..=5)
        .map(|last| a("files.example.com.", Ipv4Addr::new(192, 0, 2, last), 60))
        .collect();
    let mut filtered = filter(&question, &upstream(&question, answers));
    filtered.keep_first_addresses(2);
    let first_two = [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)];
    assert_eq!(
        filtered.grants,
        first_two.map(|ip| grant("files.example.com", ip, 60))
    );
    assert_eq!(
        filtered.response.answers,
        first_two.map(|ip| a("files.example.com.", ip, 60))
    );
}

#[test]
fn a_ttl_with_the_top_bit_set_is_passed_on_as_zero() {
    let question = question("files.example.com", RecordType::A);
    let reply = upstream(&question, vec![a("files.example.com.", PUBLIC, 1 << 31)]);
    let filtered = filter(&question, &reply);
    assert_eq!(
        filtered.response.answers,
        [a("files.example.com.", PUBLIC, 0)]
    );
}
