//! Network HTTP, by address: TCP to the HTTP ports of the listed IPs and CIDRs, nothing else.
//! (Names, and DNS, are the task resolver's: `resolver.rs`.)

use std::net::{IpAddr, Ipv6Addr};

use enforcer_tests::{
    expect::{allowed, both_families, destination, refused_at_once, tcp_hits, udp_hits},
    lab_or_skip, run_probe,
    task::{http_flags, probe_task},
    Lab,
};

fn run_http(lab: &Lab, extra: &[&str], probe: &[&str]) -> enforcer_tests::task::TaskOutcome {
    let flags = http_flags(lab, extra);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    probe_task(&flags, probe)
}

#[test]
fn listed_domains_are_reachable_on_http_ports_over_both_families() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    for addr in [
        IpAddr::V4(lab.host(0)),
        IpAddr::V6(lab.host6(0)),
        IpAddr::V4(lab.host(1)),
        IpAddr::V6(lab.host6(1)),
    ] {
        for port in ["80", "443"] {
            let outcome = run_http(&lab, &[], &["tcp", &addr.to_string(), port]);
            allowed(&outcome);
            assert!(outcome.probe().reply.unwrap().contains(&addr.to_string()));
        }
    }
    let mapped = run_http(
        &lab,
        &[],
        &["tcp", &lab.host(0).to_string(), "80", "--v6-socket"],
    );
    allowed(&mapped);
}

#[test]
fn other_ports_of_allowed_hosts_are_refused() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    for addr in both_families(&lab, 0) {
        let a = addr.to_string();
        assert!(run_probe(&["tcp", &a, "8080"]).ok);
        let hits = tcp_hits(&lab, addr, 8080);
        let outcome = run_http(&lab, &[], &["tcp", &a, "8080"]);
        refused_at_once(&outcome);
        outcome.assert_denied(&destination(addr, 8080), "port-not-allowed");
        assert_eq!(tcp_hits(&lab, addr, 8080), hits);
    }
}

#[test]
fn unlisted_hosts_are_refused_directly_and_through_mapped_ipv6() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let blocked = both_families(&lab, 2);
    for addr in blocked {
        let a = addr.to_string();
        assert!(run_probe(&["tcp", &a, "80"]).ok);
        let hits = tcp_hits(&lab, addr, 80);
        let outcome = run_http(&lab, &[], &["tcp", &a, "80"]);
        refused_at_once(&outcome);
        outcome.assert_denied(&destination(addr, 80), "address-not-allowed");
        assert_eq!(tcp_hits(&lab, addr, 80), hits);
    }
    let a = lab.host(2).to_string();
    let outcome = run_http(&lab, &[], &["tcp", &a, "80", "--v6-socket"]);
    refused_at_once(&outcome);
    outcome.assert_denied(&destination(blocked[0], 80), "address-not-allowed");
}

#[test]
fn udp_other_than_dns_is_refused_with_and_without_connect() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    for addr in both_families(&lab, 0) {
        let a = addr.to_string();
        for connect in [None, Some("--connect")] {
            let mut args = vec!["udp", a.as_str(), "9000"];
            args.extend(connect);
            assert!(run_probe(&args).ok);
            let hits = udp_hits(&lab, 9000);
            let outcome = run_http(&lab, &[], &args);
            refused_at_once(&outcome);
            outcome.assert_denied(&destination(addr, 9000), "protocol-not-allowed");
            assert_eq!(udp_hits(&lab, 9000), hits);
        }
    }
}

#[test]
fn ip_literals_and_cidrs_allow_those_addresses() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let blocked = lab.host(2).to_string();
    let outcome = run_http(&lab, &["--domain", &blocked], &["tcp", &blocked, "80"]);
    allowed(&outcome);
    let v6_net = format!("{}/120", Ipv6Addr::from(u128::from(lab.host6(2)) & !0xff));
    let blocked6 = lab.host6(2).to_string();
    let outcome = run_http(&lab, &["--domain", &v6_net], &["tcp", &blocked6, "443"]);
    allowed(&outcome);
}

#[test]
fn http_ports_can_be_changed() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let a = lab.host(0).to_string();
    allowed(&run_http(
        &lab,
        &["--http-port", "8080"],
        &["tcp", &a, "8080"],
    ));
    let outcome = run_http(&lab, &["--http-port", "8080"], &["tcp", &a, "80"]);
    refused_at_once(&outcome);
    outcome.assert_denied(&destination(lab.host(0).into(), 80), "port-not-allowed");
}

#[test]
fn the_nodes_own_addresses_are_refused_even_when_listed() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    // A service of the node on its lab-facing address, which a CIDR and a literal both cover.
    let service = enforcer_tests::HostService::start(lab.gateway().into(), 0).unwrap();
    let (ip, port) = (
        service.addr().ip().to_string(),
        service.addr().port().to_string(),
    );
    let cidr = format!("{ip}/24").replace(".1/24", ".0/24");
    let outcome = run_http(
        &lab,
        &["--domain", &ip, "--domain", &cidr, "--http-port", &port],
        &["tcp", &ip, &port],
    );
    refused_at_once(&outcome);
    outcome.assert_denied(&service.addr().to_string(), "node-address");
    assert!(!service.contacted(), "the task reached the node");
    assert!(
        run_probe(&["tcp", &ip, &port]).ok,
        "the node's service must answer"
    );
}
