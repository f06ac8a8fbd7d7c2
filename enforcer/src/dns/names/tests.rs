use hickory_proto::rr::{Label, Name};
use proptest::prelude::*;

use super::NameMatcher;
use crate::dns::testing::{matcher, name};
use crate::spec::{Domain, DomainSet};

#[test]
fn an_exact_entry_allows_that_name_in_any_case_with_or_without_the_root() {
    let names = matcher(&["files.example.com"]);
    assert!(names.allows(&name("files.example.com.")));
    assert!(names.allows(&name("files.example.com")));
    assert!(names.allows(&name("FILES.Example.COM.")));
}

#[test]
fn an_exact_entry_allows_neither_names_below_nor_above_it() {
    let names = matcher(&["files.example.com"]);
    assert!(!names.allows(&name("a.files.example.com.")));
    assert!(!names.allows(&name("example.com.")));
    assert!(!names.allows(&name("xfiles.example.com.")));
}

#[test]
fn a_wildcard_allows_its_apex_and_every_depth_below_it() {
    let names = matcher(&[".mirror.example.com"]);
    assert!(names.allows(&name("mirror.example.com.")));
    assert!(names.allows(&name("a.mirror.example.com.")));
    assert!(names.allows(&name("A.b.C.Mirror.example.com")));
    assert!(names.allows(&name("_service._tcp.mirror.example.com.")));
}

#[test]
fn a_wildcard_stops_at_label_boundaries() {
    let names = matcher(&["*.mirror.example.com"]);
    assert!(!names.allows(&name("evilmirror.example.com.")));
    assert!(!names.allows(&name("example.com.")));
    assert!(!names.allows(&name("mirror.example.com.evil.net.")));
}

#[test]
fn a_label_holding_a_dot_is_not_read_as_several_labels() {
    let names = matcher(&["files.example.com", ".mirror.example.com"]);
    let one_label = Name::from_labels([Label::from_raw_bytes(b"files.example.com").unwrap()]);
    assert!(!names.allows(&one_label.unwrap()));
    let dotted_child = Name::from_labels([
        Label::from_raw_bytes(b"x.mirror").unwrap(),
        Label::from_ascii("example").unwrap(),
        Label::from_ascii("com").unwrap(),
    ]);
    assert!(!names.allows(&dotted_child.unwrap()));
}

#[test]
fn the_root_and_address_entries_allow_no_name() {
    let names = matcher(&["192.0.2.1", "10.0.0.0/8", "2001:db8::1"]);
    assert!(names.is_empty());
    assert!(!names.allows(&Name::root()));
    assert!(!names.allows(&name("192.0.2.1.")));
    assert!(!matcher(&["example.com"]).is_empty());
    assert!(!matcher(&[".example.com"]).is_empty());
}

const LABELS: [&str; 6] = ["a", "b", "example", "com", "net", "xn--bcher-kva"];

fn label() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&LABELS[..])
}

/// Sets of entries of 2 or 3 labels, some of them wildcards; entries `Domain::parse` rejects
/// are left out.
fn domain_set() -> impl Strategy<Value = DomainSet> {
    let entry = (prop::collection::vec(label(), 2..4), 0..3usize).prop_map(|(labels, kind)| {
        let prefix = ["", ".", "*."][kind];
        format!("{prefix}{}", labels.join("."))
    });
    prop::collection::vec(entry, 0..6).prop_map(|entries| {
        entries
            .iter()
            .filter_map(|entry| Domain::parse(entry).ok())
            .collect()
    })
}

/// A name of 1 to 5 labels in mixed case, maybe fully qualified.
fn name_text() -> impl Strategy<Value = String> {
    let mixed_case = (label(), any::<u64>()).prop_map(|(label, case)| {
        let flip = |(i, c): (usize, char)| {
            if case >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        };
        label.chars().enumerate().map(flip).collect::<String>()
    });
    (prop::collection::vec(mixed_case, 1..6), any::<bool>()).prop_map(|(labels, rooted)| {
        let dot = if rooted { "." } else { "" };
        format!("{}{dot}", labels.join("."))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn agrees_with_the_domain_set(set in domain_set(), text in name_text()) {
        let names = NameMatcher::new(&set);
        prop_assert_eq!(names.allows(&name(&text)), set.matches_name(&text));
    }
}
