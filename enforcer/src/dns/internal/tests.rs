use std::net::IpAddr;

use super::{is_internal, RebindReason, Rebinding};
use crate::enforcement::AllowedNet;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn net(addr: &str, prefix_len: u8) -> AllowedNet {
    AllowedNet {
        addr: ip(addr),
        prefix_len,
    }
}

#[test]
fn internal_addresses() {
    let internal = [
        "127.0.0.1",
        "127.255.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "169.254.169.254",
        "169.254.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.255",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "febf::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::10.0.0.1",
        "64:ff9b::10.0.0.1",
        "64:ff9b::127.0.0.1",
        "64:ff9b:1::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "fec0::1",
        "192.0.0.8",
        "198.18.0.1",
        "198.19.255.255",
        "240.0.0.1",
    ];
    for addr in internal {
        assert!(is_internal(ip(addr)), "{addr} is internal");
    }
}

#[test]
fn public_addresses() {
    let public = [
        "1.1.1.1",
        "8.8.8.8",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "169.253.0.1",
        "192.0.2.1",
        "2001:db8::1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "64:ff9b:1::808:808",
        "2002:808:808::1",
        "198.17.255.255",
        "198.20.0.1",
    ];
    for addr in public {
        assert!(!is_internal(ip(addr)), "{addr} is not internal");
    }
}

#[test]
fn public_addresses_may_be_opened() {
    let rebinding = Rebinding::new(Vec::new(), vec![ip("203.0.113.5")]);
    assert_eq!(rebinding.verdict(ip("192.0.2.1")), None);
    assert_eq!(rebinding.verdict(ip("2001:db8::1")), None);
}

#[test]
fn internal_addresses_need_an_allowing_network() {
    let rebinding = Rebinding::new(
        vec![
            net("10.1.0.0", 16),
            net("fd00::", 8),
            net("192.168.7.7", 32),
        ],
        Vec::new(),
    );
    assert_eq!(rebinding.verdict(ip("10.1.2.3")), None);
    assert_eq!(rebinding.verdict(ip("::ffff:10.1.2.3")), None);
    assert_eq!(rebinding.verdict(ip("fd12::1")), None);
    assert_eq!(rebinding.verdict(ip("192.168.7.7")), None);
    assert_eq!(
        rebinding.verdict(ip("10.2.0.1")),
        Some(RebindReason::Internal)
    );
    assert_eq!(
        rebinding.verdict(ip("192.168.7.8")),
        Some(RebindReason::Internal)
    );
    assert_eq!(
        rebinding.verdict(ip("fc00::1")),
        Some(RebindReason::Internal)
    );
    assert_eq!(
        rebinding.verdict(ip("127.0.0.1")),
        Some(RebindReason::Internal)
    );
    let metadata = ip("169.254.169.254");
    assert_eq!(rebinding.verdict(metadata), Some(RebindReason::Internal));
}

#[test]
fn a_zero_prefix_allows_its_whole_family() {
    let rebinding = Rebinding::new(vec![net("0.0.0.0", 0)], Vec::new());
    assert_eq!(rebinding.verdict(ip("127.0.0.1")), None);
    assert_eq!(rebinding.verdict(ip("::1")), Some(RebindReason::Internal));
}

#[test]
fn node_addresses_are_never_opened_even_when_allowed() {
    let node = vec![ip("10.0.0.5"), ip("203.0.113.5"), ip("2001:db8::5")];
    let rebinding = Rebinding::new(vec![net("10.0.0.0", 8), net("0.0.0.0", 0)], node);
    assert_eq!(
        rebinding.verdict(ip("10.0.0.5")),
        Some(RebindReason::NodeAddress)
    );
    assert_eq!(
        rebinding.verdict(ip("203.0.113.5")),
        Some(RebindReason::NodeAddress)
    );
    let mapped = ip("::ffff:203.0.113.5");
    assert_eq!(rebinding.verdict(mapped), Some(RebindReason::NodeAddress));
    let nat64 = ip("64:ff9b::203.0.113.5");
    assert_eq!(rebinding.verdict(nat64), Some(RebindReason::NodeAddress));
    let v6 = ip("2001:db8::5");
    assert_eq!(rebinding.verdict(v6), Some(RebindReason::NodeAddress));
    assert_eq!(rebinding.verdict(ip("10.0.0.6")), None);
}

#[test]
fn a_mapped_node_address_is_its_ipv4_address() {
    let rebinding = Rebinding::new(Vec::new(), vec![ip("::ffff:203.0.113.5")]);
    let node = ip("203.0.113.5");
    assert_eq!(rebinding.verdict(node), Some(RebindReason::NodeAddress));
}
