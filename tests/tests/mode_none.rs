//! Network None: nothing leaves the task, and every refusal is immediate and reported.

use enforcer_tests::{
    expect::{both_families, destination, refused_at_once, tcp_hits, udp_hits},
    kernel_lab_available, lab_or_skip, run_probe,
    task::probe_task,
    HostService,
};

const NONE: &[&str] = &["--network", "none"];

#[test]
fn tcp_is_refused_at_once_over_ipv4_and_ipv6() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    for addr in both_families(&lab, 0) {
        let a = addr.to_string();
        assert!(run_probe(&["tcp", &a, "80"]).ok, "lab host {a} must answer");
        let hits = tcp_hits(&lab, addr, 80);
        let outcome = probe_task(NONE, &["tcp", &a, "80"]);
        refused_at_once(&outcome);
        outcome.assert_denied(&destination(addr, 80), "network-none");
        assert_eq!(
            tcp_hits(&lab, addr, 80),
            hits,
            "the lab must receive nothing"
        );
    }
}

#[test]
fn ipv4_mapped_ipv6_is_refused_like_ipv4() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let a = lab.host(1).to_string();
    assert!(run_probe(&["tcp", &a, "80", "--v6-socket"]).ok);
    let outcome = probe_task(NONE, &["tcp", &a, "80", "--v6-socket"]);
    refused_at_once(&outcome);
    outcome.assert_denied(&destination(lab.host(1).into(), 80), "network-none");
    assert!(run_probe(&["udp", &a, "9000", "--v6-socket"]).ok);
    let hits = udp_hits(&lab, 9000);
    refused_at_once(&probe_task(NONE, &["udp", &a, "9000", "--v6-socket"]));
    assert_eq!(udp_hits(&lab, 9000), hits);
}

#[test]
fn udp_is_refused_with_and_without_connect() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    for addr in both_families(&lab, 0) {
        let a = addr.to_string();
        for connect in [false, true] {
            let mut args = vec!["udp", a.as_str(), "9000"];
            if connect {
                args.push("--connect");
            }
            assert!(run_probe(&args).ok, "lab UDP echo must answer {args:?}");
            let hits = udp_hits(&lab, 9000);
            let outcome = probe_task(NONE, &args);
            refused_at_once(&outcome);
            outcome.assert_denied(&destination(addr, 9000), "network-none");
            assert_eq!(udp_hits(&lab, 9000), hits, "{args:?} leaked");
        }
    }
}

#[test]
fn dns_to_any_resolver_is_refused() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let server = lab.dns().to_string();
    for transport in [None, Some("--tcp")] {
        let mut args = vec!["dns", server.as_str(), "files.lab.test"];
        args.extend(transport);
        assert!(run_probe(&args).ok);
        let queries = lab.dns_queries().len();
        refused_at_once(&probe_task(NONE, &args));
        assert_eq!(
            lab.dns_queries().len(),
            queries,
            "{args:?} reached the resolver"
        );
    }
}

#[test]
fn the_nodes_loopback_services_are_refused() {
    if !kernel_lab_available() {
        return;
    }
    // The unspecified address connects to loopback too.
    for (bind, also) in [("127.0.0.1", "0.0.0.0"), ("::1", "::")] {
        let service = HostService::start(bind.parse().unwrap(), 0).unwrap();
        let addr = service.addr();
        let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
        // The task goes first so that any contact the service logs would be the task's.
        for target in [ip.as_str(), also] {
            let outcome = probe_task(NONE, &["tcp", target, &port]);
            refused_at_once(&outcome);
            let dest = destination(target.parse().unwrap(), addr.port());
            outcome.assert_denied(&dest, "host-loopback");
        }
        assert!(!service.contacted(), "the task reached {addr}");
        assert!(
            run_probe(&["tcp", &ip, &port]).ok,
            "host service must answer"
        );
    }
}
