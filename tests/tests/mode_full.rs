//! Network Full (and its aliases Host and Bridge): unrestricted, still counted.

use enforcer_tests::{
    expect::{allowed, both_families, tcp_hits},
    kernel_lab_available, lab_or_skip,
    task::{enforcer_run, probe_task},
    HostService,
};

#[test]
fn tcp_udp_and_dns_work_over_both_families() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    for addr in both_families(&lab, 2) {
        let a = addr.to_string();
        for port in ["80", "8080"] {
            let outcome = probe_task(&["--network", "full"], &["tcp", &a, port]);
            allowed(&outcome);
            assert!(outcome.probe().reply.unwrap().contains(&a));
        }
        allowed(&probe_task(&["--network", "Host"], &["udp", &a, "9000"]));
        assert!(tcp_hits(&lab, addr, 8080) >= 1);
    }
    let dns = lab.dns().to_string();
    let outcome = probe_task(&["--network", "bridge"], &["dns", &dns, "files.lab.test"]);
    allowed(&outcome);
    assert!(outcome
        .probe()
        .reply
        .unwrap()
        .contains(&lab.host(0).to_string()));
}

#[test]
fn the_nodes_loopback_stays_reachable() {
    if !kernel_lab_available() {
        return;
    }
    let service = HostService::start("127.0.0.1".parse().unwrap(), 0).unwrap();
    let (ip, port) = (
        service.addr().ip().to_string(),
        service.addr().port().to_string(),
    );
    allowed(&probe_task(&["--network", "full"], &["tcp", &ip, &port]));
    assert!(service.contacted());
}

#[test]
fn counters_are_reported_when_the_task_ends() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let a = lab.host(0).to_string();
    let outcome = probe_task(&["--network", "full"], &["tcp", &a, "80"]);
    allowed(&outcome);
    // Numbers, one field each.
    assert_eq!(
        outcome.counter("connect_allowed"),
        Some(1),
        "{}",
        outcome.stderr
    );
    let packets = outcome.counter("packets_allowed");
    assert!(packets.is_some_and(|n| n > 0), "{}", outcome.stderr);
}

#[test]
fn the_task_exit_status_is_passed_through() {
    if !kernel_lab_available() {
        return;
    }
    let outcome = enforcer_run(&["--network", "full"], &["sh", "-c", "exit 7"]);
    assert_eq!(outcome.exit_code, Some(7));
    let outcome = enforcer_run(&["--network", "none"], &["sh", "-c", "kill -TERM $$"]);
    assert_eq!(outcome.exit_code, Some(128 + 15));
}
