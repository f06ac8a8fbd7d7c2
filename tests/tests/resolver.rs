//! HTTP mode by name: the enforcer answers the task's DNS itself, whatever server the task
//! aims at, and opens exactly the addresses it handed out, for their TTL.
//!
//! Lab addresses are private (RFC 1918, ULA), so every task here allows hosts 0 and 1 as
//! internal (`--allow-internal`); host 2 stays an internal address a name must not open.

use std::{
    net::IpAddr,
    process::Command,
    time::{Duration, Instant},
};

use enforcer::allowlist::AllowlistMaps;
use enforcer_common::policy::listed;
use enforcer_tests::{
    expect::{allowed, refused_at_once},
    lab_or_skip, probe_bin,
    task::{enforcer_run, http_name_flags, probe_task, LoggedDenial, TaskOutcome},
    DnsTransport, Lab, ProbeResult,
};

/// Runs one probe as an HTTP task of `domains`.
fn run(lab: &Lab, domains: &[&str], extra: &[&str], probe: &[&str]) -> TaskOutcome {
    let flags = http_name_flags(lab, domains, extra);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    probe_task(&flags, probe)
}

/// Runs several probes, one after the other, in one HTTP task of `domains`; their results
/// in order. A step starting with `sleep` is the shell's, and has no result.
fn run_steps(
    lab: &Lab,
    domains: &[&str],
    extra: &[&str],
    steps: &[&[&str]],
) -> (Vec<ProbeResult>, TaskOutcome) {
    let probe = probe_bin();
    let is_probe = |args: &[&str]| args.first() != Some(&"sleep");
    let script: Vec<String> = steps
        .iter()
        .map(|args| {
            let program = if is_probe(args) {
                format!("{} ", probe.display())
            } else {
                String::new()
            };
            format!("{program}{}", args.join(" "))
        })
        .collect();
    let flags = http_name_flags(lab, domains, extra);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let outcome = enforcer_run(&flags, &["sh", "-c", &script.join("; ")]);
    let results: Vec<ProbeResult> = outcome
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let probes = steps.iter().filter(|args| is_probe(args)).count();
    assert_eq!(results.len(), probes, "{}", outcome.stderr);
    (results, outcome)
}

/// The reply of a probe that must have succeeded.
fn reply(outcome: &TaskOutcome) -> String {
    allowed(outcome);
    outcome.probe().reply.unwrap_or_default()
}

/// The resolver's refusals of `name`.
fn dns_denials<'a>(outcome: &'a TaskOutcome, name: &str) -> Vec<&'a LoggedDenial> {
    outcome
        .denials
        .iter()
        .filter(|d| d.hook == "dns" && d.name.as_deref() == Some(name))
        .collect()
}

fn assert_dns_denied(outcome: &TaskOutcome, name: &str, qtype: &str, reason: &str) {
    let denials = dns_denials(outcome, name);
    assert!(
        denials
            .iter()
            .any(|d| d.qtype.as_deref() == Some(qtype) && d.reason == reason),
        "no {reason} denial of {name} {qtype}: {denials:#?}\n{}",
        outcome.stderr
    );
}

/// An address of lab `lab` that no host has: nothing answers there.
fn nowhere(lab: &Lab, v6: bool) -> String {
    if v6 {
        format!("fd13:0:0:{}::99", lab.index())
    } else {
        format!("10.213.{}.99", lab.index())
    }
}

#[test]
fn every_query_is_answered_by_the_task_resolver_whatever_server_it_aims_at() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let h0 = lab.host(0).to_string();
    let servers = [
        (lab.dns().to_string(), false),
        (lab.host6(0).to_string(), true),
        (nowhere(&lab, false), false),
        (nowhere(&lab, true), true),
    ];
    for (server, v6) in &servers {
        let mut ways: Vec<&[&str]> = vec![&[], &["--tcp"], &["--unconnected"]];
        if !v6 {
            ways.extend([&["--v6-socket"][..], &["--v6-socket", "--tcp"]]);
        }
        for way in ways {
            let mut args = vec!["dns", server, "files.lab.test", "--show-source"];
            args.extend(way);
            let before = lab.dns_query_count("files.lab.test");
            let reply = reply(&run(&lab, &["files.lab.test"], &[], &args));
            // The reply names the server the task asked, as stub resolvers check.
            let asked = if way.contains(&"--v6-socket") {
                format!("[::ffff:{server}]:53")
            } else if *v6 {
                format!("[{server}]:53")
            } else {
                format!("{server}:53")
            };
            assert_eq!(reply, format!("{h0} from {asked}"), "{args:?}");
            // Answered once, by the upstream through the enforcer.
            assert_eq!(
                lab.dns_query_count("files.lab.test"),
                before + 1,
                "{args:?}"
            );
        }
    }
}

#[test]
fn a_looked_up_name_is_reachable_and_nothing_else() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let files = ["files.lab.test"];
    let got = reply(&run(&lab, &files, &[], &["fetch", &dns, "files.lab.test"]));
    assert_eq!(got, format!("{0} hello from {0}:80", lab.host(0)));
    let got = reply(&run(
        &lab,
        &files,
        &[],
        &[
            "fetch",
            &dns,
            "files.lab.test",
            "--qtype",
            "AAAA",
            "--port",
            "443",
        ],
    ));
    assert_eq!(got, format!("{0} hello from [{0}]:443", lab.host6(0)));
    // Names are no longer looked up when the task starts: without a lookup of its own, the
    // task reaches nothing, and a lookup opens only what it returned.
    for addr in [lab.host(0).to_string(), lab.host(1).to_string()] {
        let outcome = run(&lab, &files, &[], &["tcp", &addr, "80"]);
        refused_at_once(&outcome);
        outcome.assert_denied(&format!("{addr}:80"), "address-not-allowed");
    }
    let (results, _) = run_steps(
        &lab,
        &files,
        &[],
        &[
            &["fetch", &dns, "files.lab.test"],
            &["tcp", &lab.host(1).to_string(), "80"],
        ],
    );
    assert!(results[0].ok, "{results:?}");
    assert!(results[1].is_eperm(), "{results:?}");
}

#[test]
fn names_and_types_the_task_may_not_use_never_leave_the_node() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let secret = format!("secret-{}.blocked.lab.test", std::process::id());
    let cases: [(&str, &str, &str); 6] = [
        (&secret, "A", "name-not-allowed"),
        ("blocked.lab.test", "AAAA", "name-not-allowed"),
        ("txt.lab.test", "TXT", "type-not-allowed"),
        ("files.lab.test", "TXT", "type-not-allowed"),
        ("files.lab.test", "ANY", "type-not-allowed"),
        ("files.lab.test", "NULL", "type-not-allowed"),
    ];
    for (name, qtype, reason) in cases {
        for transport in [None, Some("--tcp")] {
            let before = lab.dns_query_count_of(name, qtype);
            let mut args = vec!["dns", &dns, name, "--qtype", qtype];
            args.extend(transport);
            let outcome = run(&lab, &["files.lab.test", "txt.lab.test"], &[], &args);
            assert!(reply(&outcome).starts_with("Refused:"), "{args:?}");
            assert_dns_denied(&outcome, name, qtype, reason);
            assert_eq!(
                lab.dns_query_count_of(name, qtype),
                before,
                "{args:?} reached the lab's DNS server"
            );
        }
    }
}

#[test]
fn wildcards_open_names_at_any_depth_below_them() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let deep = ["*.deep.lab.test"];
    let name = "x.y.z.deep.lab.test";
    let got = reply(&run(&lab, &deep, &[], &["fetch", &dns, name]));
    assert_eq!(got, format!("{0} hello from {0}:80", lab.host(1)));
    let outcome = run(
        &lab,
        &deep,
        &[],
        &["dns", &dns, "x.deep.lab.test.evil.test"],
    );
    assert!(reply(&outcome).starts_with("Refused:"));
}

#[test]
fn cname_chains_open_only_while_they_stay_inside_the_allowed_names() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let all = ["chain.lab.test", "alias.lab.test", "files.lab.test"];
    let got = reply(&run(&lab, &all, &[], &["fetch", &dns, "chain.lab.test"]));
    assert_eq!(got, format!("{0} hello from {0}:80", lab.host(0)));
    // A chain that leaves the allowed names opens nothing, wherever it leaves.
    for (domains, name) in [
        (&["outside.lab.test"][..], "outside.lab.test"),
        (&["chain.lab.test", "alias.lab.test"][..], "chain.lab.test"),
    ] {
        let (results, outcome) = run_steps(
            &lab,
            domains,
            &[],
            &[
                &["dns", &dns, name],
                &["tcp", &lab.host(0).to_string(), "80"],
                &["tcp", &lab.host(2).to_string(), "80"],
            ],
        );
        let answer = results[0].reply.clone().unwrap_or_default();
        assert!(answer.starts_with("Refused:"), "{name}: {answer}");
        assert_dns_denied(&outcome, name, "A", "cname-outside");
        let stopped = outcome
            .stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["message"] == "resolver stopped")
            .expect("the resolver's summary");
        assert_eq!(stopped["refused"], 1, "{stopped}");
        assert_eq!(stopped["answered"], 0, "{stopped}");
        assert!(
            results[1].is_eperm() && results[2].is_eperm(),
            "{results:?}"
        );
    }
}

#[test]
fn records_for_other_names_are_stripped_and_open_nothing() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let (results, _) = run_steps(
        &lab,
        &["extra.lab.test"],
        &[],
        &[
            &["dns", &dns, "extra.lab.test", "--records"],
            &["fetch", &dns, "extra.lab.test"],
            &["tcp", &lab.host(2).to_string(), "80"],
        ],
    );
    let records = results[0].reply.clone().unwrap_or_default();
    assert!(!records.contains("blocked.lab.test"), "{records}");
    assert!(records.contains(&lab.host(0).to_string()), "{records}");
    assert!(results[1].ok, "{results:?}");
    assert!(
        results[2].is_eperm(),
        "the extra record opened host 2: {results:?}"
    );
}

#[test]
fn internal_answers_open_nothing_unless_the_operator_allows_them() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let h2 = lab.host(2).to_string();
    let names = ["private.lab.test", "loopback.lab.test", "metadata.lab.test"];
    let (results, outcome) = run_steps(
        &lab,
        &names,
        &[],
        &[
            &["dns", &dns, "private.lab.test"],
            &["dns", &dns, "loopback.lab.test"],
            &["dns", &dns, "metadata.lab.test"],
            &["tcp", &h2, "80"],
        ],
    );
    for result in &results[..3] {
        assert_eq!(result.reply.as_deref(), Some(""), "{results:?}");
    }
    assert!(results[3].is_eperm(), "{results:?}");
    // 127.0.0.1 is the node's own (its loopback), which nothing ever opens.
    for (name, addr, reason) in [
        ("private.lab.test", h2.as_str(), "internal-address"),
        ("loopback.lab.test", "127.0.0.1", "node-address"),
        ("metadata.lab.test", "169.254.169.254", "internal-address"),
    ] {
        let denials = dns_denials(&outcome, name);
        assert!(
            denials
                .iter()
                .any(|d| d.reason == reason && d.destination == addr),
            "{name}: {denials:#?}"
        );
    }
    // The operator may allow an internal range; the spec's own IP literal opens it too.
    let allow = ["--allow-internal", &h2];
    let got = reply(&run(
        &lab,
        &names,
        &allow,
        &["fetch", &dns, "private.lab.test"],
    ));
    assert_eq!(got, format!("{h2} hello from {h2}:80"));
    let outcome = run(&lab, &[names[0], &h2], &[], &["tcp", &h2, "80"]);
    allowed(&outcome);
}

#[test]
fn aaaa_only_names_work() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let v6only = ["v6only.lab.test"];
    let got = reply(&run(
        &lab,
        &v6only,
        &[],
        &["fetch", &dns, "v6only.lab.test", "--qtype", "AAAA"],
    ));
    assert_eq!(got, format!("{0} hello from [{0}]:80", lab.host6(1)));
    let got = reply(&run(&lab, &v6only, &[], &["dns", &dns, "v6only.lab.test"]));
    assert_eq!(got, "", "no A record");
}

#[test]
fn rotating_answers_each_open_their_address() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let fetch: &[&str] = &["fetch", &dns, "rotate.lab.test"];
    let (results, _) = run_steps(&lab, &["rotate.lab.test"], &[], &[fetch, fetch]);
    let addresses: Vec<String> = results
        .iter()
        .map(|r| {
            assert!(r.ok, "{results:?}");
            r.reply
                .clone()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut expected = [lab.host(0).to_string(), lab.host(1).to_string()];
    let mut got = [addresses[0].clone(), addresses[1].clone()];
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "each answer's address was reachable");
}

#[test]
fn an_open_connection_outlives_its_address_and_a_new_one_is_refused() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    // short.lab.test has a 1 s TTL; with a 1 s floor its address expires while the
    // connection waits, before the request goes out.
    let got = reply(&run(
        &lab,
        &["short.lab.test"],
        &["--dns-min-ttl", "1"],
        &[
            "fetch",
            &dns,
            "short.lab.test",
            "--pause-ms",
            "3500",
            "--reconnect",
        ],
    ));
    let h1 = lab.host(1);
    assert_eq!(
        got,
        format!("{h1} hello from {h1}:80 again=errno {}", libc::EPERM)
    );
    // With the default floor (60 s), the address is still open after the pause.
    let got = reply(&run(
        &lab,
        &["short.lab.test"],
        &[],
        &[
            "fetch",
            &dns,
            "short.lab.test",
            "--pause-ms",
            "2500",
            "--reconnect",
        ],
    ));
    assert!(got.ends_with("again=ok"), "{got}");
}

#[test]
fn an_expired_address_leaves_the_kernel_map_once_its_connections_end() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let task_id = format!("expiry-{}", std::process::id());
    let probe = probe_bin();
    let script = format!("{} fetch {dns} short.lab.test && sleep 6", probe.display());
    let flags = http_name_flags(
        &lab,
        &["short.lab.test"],
        &["--dns-min-ttl", "1", "--task-id", &task_id],
    );
    let mut task = Command::new(enforcer_tests::enforcer_bin())
        .arg("run")
        .args(&flags)
        .args(["--", "sh", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let h1 = IpAddr::V4(lab.host(1));
    let pin_dir = enforcer::paths::pin_dir(&task_id);
    let value = || {
        AllowlistMaps::open(&pin_dir, enforcer::enforcement::ONLY_TASK)
            .ok()
            .and_then(|maps| maps.host_value(h1).ok())
    };
    let seen = |wanted: u8, within: Duration| {
        let start = Instant::now();
        while start.elapsed() < within {
            if value() == Some(wanted) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    let opened = seen(listed::ALLOWED, Duration::from_secs(4));
    let removed = opened && seen(listed::NO, Duration::from_secs(4));
    let status = task.wait().unwrap();
    assert!(opened, "the lookup never opened {h1}");
    assert!(removed, "{h1} stayed in the map: {:?}", value());
    assert!(status.success());
}

#[test]
fn two_tasks_at_once_never_open_anything_for_each_other() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let (h0, h1) = (lab.host(0).to_string(), lab.host(1).to_string());
    // Each looks its own name up, waits until the other surely has too, then tries the
    // other's address and name.
    let task = |own: &str, other_name: &str, other_addr: &str| {
        run_steps(
            &lab,
            &[own],
            &[],
            &[
                &["fetch", &dns, own],
                &["sleep", "1.5"],
                &["tcp", other_addr, "80"],
                &["dns", &dns, other_name],
            ],
        )
        .0
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| task("files.lab.test", "mirror.lab.test", &h1));
        let b = scope.spawn(|| task("mirror.lab.test", "files.lab.test", &h0));
        (a.join().unwrap(), b.join().unwrap())
    });
    for results in [&a, &b] {
        assert!(results[0].ok, "{results:?}");
        assert!(results[1].is_eperm(), "{results:?}");
        let answer = results[2].reply.clone().unwrap_or_default();
        assert!(answer.starts_with("Refused:"), "{results:?}");
    }
}

#[test]
fn a_task_in_its_own_network_namespace_gets_its_resolver_there() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let netns = OwnNetns::create();
    let dns = lab.dns().to_string();
    let netns_flag = ["--netns", &netns.path];
    // The namespace has no route to the lab: an answer can only come from the enforcer's
    // resolver inside it. Its own loopback's port 53 is steered too.
    for (server, transport) in [
        (dns.as_str(), None),
        (dns.as_str(), Some("--tcp")),
        ("127.0.0.53", None),
        ("::1", Some("--tcp")),
    ] {
        let mut args = vec!["dns", server, "files.lab.test", "--show-source"];
        args.extend(transport);
        let got = reply(&run(&lab, &["files.lab.test"], &netns_flag, &args));
        assert!(got.starts_with(&lab.host(0).to_string()), "{args:?}: {got}");
    }
    let got = reply(&run(
        &lab,
        &["files.lab.test"],
        &netns_flag,
        &["dns", &dns, "blocked.lab.test"],
    ));
    assert!(got.starts_with("Refused:"), "{got}");
    // One task per namespace: a second would share the first one's loopback, resolver
    // included. It does not run.
    let probe = probe_bin();
    let script = format!("{} dns {dns} files.lab.test; sleep 3", probe.display());
    let flags = http_name_flags(&lab, &["files.lab.test"], &netns_flag);
    let mut first = Command::new(enforcer_tests::enforcer_bin())
        .arg("run")
        .args(&flags)
        .args(["--", "sh", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let none = ["--network", "none", "--netns", netns.path.as_str()];
    let second = probe_task(&none, &["tcp", "127.0.0.1", "80"]);
    assert_eq!(second.exit_code, Some(2), "{}", second.stderr);
    assert!(
        second.stderr.contains("already has an enforced task"),
        "{}",
        second.stderr
    );
    assert!(first.wait().unwrap().success());
    // So is a task whose enforcer itself runs in that namespace (as the node's).
    let mut inside = Command::new("nsenter")
        .arg(format!("--net={}", netns.path))
        .arg(enforcer_tests::enforcer_bin())
        .args(["run", "--network", "none", "--", "sleep", "3"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let joining = probe_task(&none, &["tcp", "127.0.0.1", "80"]);
    assert_eq!(joining.exit_code, Some(2), "{}", joining.stderr);
    assert!(inside.wait().unwrap().success());
}

/// A network namespace with only its loopback up, deleted on drop.
struct OwnNetns {
    name: String,
    path: String,
}

impl OwnNetns {
    fn create() -> OwnNetns {
        let name = format!("enf-own-{}", std::process::id());
        let ip = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().unwrap();
            assert!(status.success(), "ip {args:?}");
        };
        ip(&["netns", "add", &name]);
        let netns = OwnNetns {
            path: format!("/run/netns/{name}"),
            name,
        };
        ip(&["-n", &netns.name, "link", "set", "lo", "up"]);
        netns
    }
}

impl Drop for OwnNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

#[test]
fn truncated_answers_fall_back_to_tcp_on_both_legs() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let subnet = format!("10.213.{}.0/24", lab.index());
    let allow = ["--allow-internal", subnet.as_str()];
    let tcp_before = count_over_tcp(&lab, "big.lab.test");
    let got = reply(&run(
        &lab,
        &["big.lab.test"],
        &allow,
        &["dns", &dns, "big.lab.test", "--follow-tc"],
    ));
    // 100 addresses, of which a name may hold 64 at once: the task is told of those only.
    let expected: Vec<String> = lab.big_addresses()[..64]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut answered: Vec<&str> = got.split(',').collect();
    answered.sort();
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(answered, expected);
    // The upstream's UDP answer was truncated too: the enforcer asked again over TCP.
    assert!(count_over_tcp(&lab, "big.lab.test") > tcp_before);
    // Over UDP alone the task is told to retry over TCP.
    let got = reply(&run(
        &lab,
        &["big.lab.test"],
        &allow,
        &["dns", &dns, "big.lab.test"],
    ));
    assert!(got.starts_with("TC:"), "{got}");
}

fn count_over_tcp(lab: &Lab, name: &str) -> usize {
    lab.dns_queries_over(DnsTransport::Tcp)
        .iter()
        .filter(|n| *n == name)
        .count()
}

#[test]
fn https_records_are_served_without_ech_or_address_hints() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let got = reply(&run(
        &lab,
        &["https.lab.test"],
        &[],
        &["dns", &dns, "https.lab.test", "--qtype", "HTTPS"],
    ));
    assert!(got.contains("alpn=h2"), "{got}");
    assert!(!got.contains("ech"), "{got}");
    assert!(!got.contains("hint"), "{got}");
}

#[test]
fn a_flooding_task_is_rate_limited_and_slows_only_itself() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let sent = 5000;
    let (flood, other) = std::thread::scope(|scope| {
        let flood = scope.spawn(|| {
            run(
                &lab,
                &["files.lab.test"],
                &[],
                &[
                    "dns-flood",
                    &dns,
                    "files.lab.test",
                    "--count",
                    &sent.to_string(),
                ],
            )
        });
        let other = scope.spawn(|| {
            run(
                &lab,
                &["mirror.lab.test"],
                &[],
                &["fetch", &dns, "mirror.lab.test"],
            )
        });
        (flood.join().unwrap(), other.join().unwrap())
    });
    let answered: u32 = reply(&flood).parse().unwrap();
    assert!(
        (100..sent).contains(&answered),
        "{answered} of {sent} answered"
    );
    assert!(
        flood.stderr.contains("\"rate_limited\"") && !flood.stderr.contains("\"rate_limited\":0"),
        "{}",
        flood.stderr
    );
    allowed(&other);
}

#[test]
fn garbage_on_port_53_is_dropped_and_the_resolver_keeps_answering() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let (results, _) = run_steps(
        &lab,
        &["files.lab.test"],
        &[],
        &[
            // "ping" is no DNS message (not even a header): no answer.
            &["udp", &dns, "53", "--timeout-ms", "500"],
            &["udp", &dns, "53", "--connect", "--timeout-ms", "500"],
            &["dns", &dns, "files.lab.test"],
        ],
    );
    assert!(
        results[0].is_timeout() && results[1].is_timeout(),
        "{results:?}"
    );
    assert_eq!(
        results[2].reply.as_deref(),
        Some(lab.host(0).to_string().as_str())
    );
}
