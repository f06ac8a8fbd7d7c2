//! Policies that change while the task runs, and hooks tested without the sandbox.

use std::{
    io::{BufRead, BufReader, Write},
    net::IpAddr,
    process::Stdio,
};

use enforcer::{
    enforcement::{AllowedNet, TaskPolicy},
    events::{DenialHook, DenialReason},
};
use enforcer_common::{Counter, Hook, Mode, Reason};
use enforcer_tests::{
    connect_loop, kernel_lab_available, lab_or_skip, probe_bin, run_probe,
    scoped::ScopedEnforcement, Lab,
};

fn http_policy(allowed: &[IpAddr]) -> TaskPolicy {
    TaskPolicy {
        mode: Mode::Http,
        http_ports: vec![80],
        allowed: allowed.iter().copied().map(AllowedNet::host).collect(),
    }
}

#[test]
fn the_allowlist_changes_under_a_connecting_client_without_gaps() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let (a, b) = (IpAddr::V4(lab.host(0)), IpAddr::V4(lab.host(1)));
    let mut scope = ScopedEnforcement::attach("live", &http_policy(&[a])).unwrap();
    let (mut b_allowed_at, mut a_removed_at) = (None, None);
    let client = scope.confined(&probe_bin()).unwrap();
    let targets = [format!("{a}:80"), format!("{b}:80")];
    let attempts = connect_loop(client, &targets, |count| {
        if count == 100 {
            scope.enforcement().allow(AllowedNet::host(b)).unwrap();
            b_allowed_at = Some(count);
        }
        if count == 300 {
            scope.enforcement().disallow(AllowedNet::host(a)).unwrap();
            a_removed_at = Some(count);
        }
    });
    let (b_allowed_at, a_removed_at) = (b_allowed_at.unwrap(), a_removed_at.unwrap());
    assert!(
        attempts.len() > a_removed_at + 50,
        "too few attempts: {}",
        attempts.len()
    );
    // One attempt may be in flight while the map changes.
    for (i, attempt) in attempts.iter().enumerate() {
        let to_a = attempt.target == format!("{a}:80");
        let expect_ok = if to_a {
            i < a_removed_at
        } else {
            i > b_allowed_at
        };
        let in_flight = if to_a {
            i == a_removed_at
        } else {
            i == b_allowed_at
        };
        if in_flight {
            continue;
        }
        assert_eq!(attempt.ok, expect_ok, "attempt {i}: {attempt:?}");
        if !attempt.ok {
            assert_eq!(attempt.errno, Some(libc::EPERM), "attempt {i}: {attempt:?}");
        }
    }
}

#[test]
fn raw_sockets_are_refused_even_with_cap_net_raw() {
    if !kernel_lab_available() {
        return;
    }
    assert!(run_probe(&["raw", "4"]).ok);
    let scope = ScopedEnforcement::attach("rawcap", &http_policy(&[])).unwrap();
    for family in ["4", "6"] {
        let output = scope
            .privileged(&probe_bin())
            .args(["raw", family])
            .output()
            .unwrap();
        let result = enforcer_tests::ProbeResult::from_stdout(&output.stdout).unwrap();
        assert!(
            result.is_eperm(),
            "raw {family} with CAP_NET_RAW: {result:?}"
        );
    }
    let mut scope = scope;
    let counters = scope.enforcement().counters().unwrap();
    assert!(
        counters.contains(&(Counter::SocketsDenied, 2)),
        "{counters:?}"
    );
}

#[test]
fn packets_of_an_open_connection_are_dropped_once_its_address_is_removed() {
    if !kernel_lab_available() {
        return;
    }
    // connect() is judged once; what keeps the promise afterwards is the egress program,
    // which judges every packet (also of sockets no sock_addr hook saw).
    let lab = Lab::start().unwrap();
    let a = IpAddr::V4(lab.host(0));
    let mut scope = ScopedEnforcement::attach("egress", &http_policy(&[a])).unwrap();
    let mut client = scope
        .confined(&probe_bin())
        .unwrap()
        .args([
            "tcp",
            &a.to_string(),
            "80",
            "--hold",
            "--timeout-ms",
            "1500",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = client.id();
    let mut stderr = BufReader::new(client.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "connected");
    scope.enforcement().disallow(AllowedNet::host(a)).unwrap();
    let before = scope.enforcement().counters().unwrap();
    writeln!(client.stdin.take().unwrap()).unwrap();
    let output = client.wait_with_output().unwrap();
    let result = enforcer_tests::ProbeResult::from_stdout(&output.stdout).unwrap();
    assert!(
        result.is_timeout(),
        "the request must be dropped, got {result:?}"
    );
    let dropped = |counters: &[(Counter, u64)]| {
        counters
            .iter()
            .find(|(c, _)| *c == Counter::PacketsDenied)
            .unwrap()
            .1
    };
    let after = scope.enforcement().counters().unwrap();
    assert!(
        dropped(&after) > dropped(&before),
        "{before:?} -> {after:?}"
    );
    // The drop is reported with who connected the socket, though egress runs in softirq.
    let denials = scope.denials().unwrap();
    let expected = format!("{a}:80");
    assert!(
        denials
            .iter()
            .any(|d| d.hook == DenialHook::Kernel(Hook::Egress)
                && d.reason == DenialReason::Kernel(Reason::AddressNotAllowed)
                && d.destination() == expected
                && d.comm.as_deref() == Some("enforcer-probe")
                && d.pid == Some(pid)),
        "{denials:#?}"
    );
}

#[test]
fn a_task_in_its_own_network_namespace_keeps_its_loopback() {
    if !kernel_lab_available() {
        return;
    }
    // Mode None refuses the node's loopback, but a task with a network namespace of its
    // own (as a container has) may still talk to itself over its own loopback.
    let scope =
        ScopedEnforcement::attach("ownnetns", &TaskPolicy::without_allowlist(Mode::None)).unwrap();
    let dir = std::env::temp_dir().join(format!("enforcer-ownnetns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let probe = probe_bin();
    let script = format!(
        "ip link set lo up && {probe} serve --log {dir}/log --ready {dir}/ready --tcp-port 18555 --bind 127.0.0.1 & \
         server=$!; for i in $(seq 100); do [ -s {dir}/ready ] && break; sleep 0.02; done; \
         {probe} tcp 127.0.0.1 18555; status=$?; kill $server; exit $status",
        probe = probe.display(),
        dir = dir.display()
    );
    let own = scope
        .privileged(std::path::Path::new("unshare"))
        .args(["--net", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    let result = enforcer_tests::ProbeResult::from_stdout(&own.stdout).unwrap();
    assert!(result.ok, "own loopback refused: {result:?}");
    // The same probe in the node's namespace is refused.
    let host = scope
        .privileged(&probe)
        .args(["tcp", "127.0.0.1", "18555"])
        .output()
        .unwrap();
    let result = enforcer_tests::ProbeResult::from_stdout(&host.stdout).unwrap();
    assert!(result.is_eperm(), "node loopback: {result:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn dns_with_no_resolver_in_the_task_namespace_is_refused() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    // HTTP enforcement with no resolver listening for the task (none was started here, as
    // when a task moved to a namespace the enforcer does not serve): DNS fails closed.
    let dns = lab.dns().to_string();
    assert!(run_probe(&["dns", &dns, "files.lab.test"]).ok);
    let mut scope = ScopedEnforcement::attach("noresolver", &http_policy(&[])).unwrap();
    let before = lab.dns_query_count("files.lab.test");
    for transport in [None, Some("--tcp")] {
        let mut args = vec!["dns", dns.as_str(), "files.lab.test"];
        args.extend(transport);
        let output = scope
            .confined(&probe_bin())
            .unwrap()
            .args(&args)
            .output()
            .unwrap();
        let result = enforcer_tests::ProbeResult::from_stdout(&output.stdout).unwrap();
        assert!(result.is_eperm(), "{args:?}: {result:?}");
    }
    assert_eq!(lab.dns_query_count("files.lab.test"), before);
    let denials = scope.denials().unwrap();
    let expected = format!("{dns}:53");
    assert!(
        denials
            .iter()
            .any(|d| d.reason == DenialReason::Kernel(Reason::NoResolver)
                && d.destination() == expected),
        "{denials:#?}"
    );
}
