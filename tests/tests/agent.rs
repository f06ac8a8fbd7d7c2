//! The node agent (`enforcer daemon`) enforcing cgroups it did not create, through its API
//! and CLI: each mode, changes, events, bad requests, and its own crash and restart.

use std::{
    io::{BufRead, BufReader, Write},
    net::IpAddr,
    ops::ControlFlow,
    os::unix::fs::MetadataExt,
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use enforcer::agent::{
    api::{ApiError, CgroupRef, EnforceRequest, EventLine, NetworkRequest, Refusal},
    client::ClientError,
};
use enforcer_tests::{
    agent::{TestAgent, TestCgroup},
    connect_loop, enforcer_bin, lab_or_skip, probe_bin, HostService,
};
use serde_json::json;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}\n{}{}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn attach(agent: &TestAgent, id: &str, cgroup: &TestCgroup, network: &[&str]) {
    let cgroup = cgroup.path().to_str().unwrap();
    let mut args = vec!["attach", "--id", id, "--cgroup", cgroup];
    args.extend_from_slice(network);
    assert_success(&agent.cli(&args), &format!("attach {id}"));
}

fn tcp(cgroup: &TestCgroup, addr: IpAddr) -> enforcer_tests::ProbeResult {
    cgroup.probe(&["tcp", &addr.to_string(), "80"])
}

/// The value of the sample `series` (name and labels as printed) in Prometheus text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

fn api_error(error: &ClientError) -> Option<ApiError> {
    match error {
        ClientError::Api { body, .. } => Some(body.clone()),
        _ => None,
    }
}

/// Task `id`'s kernel counter `name`, as the agent lists it.
fn counter(agent: &TestAgent, id: &str, name: &str) -> u64 {
    let tasks = agent.client().list().unwrap();
    let task = tasks
        .iter()
        .find(|t| t.id == id)
        .expect("the task is listed");
    task.counters.get(name).copied().unwrap_or(0)
}

fn request(id: &str, cgroup: &TestCgroup, network: serde_json::Value) -> EnforceRequest {
    EnforceRequest {
        id: id.into(),
        cgroup: CgroupRef::Path(cgroup.path().to_path_buf()),
        network: NetworkRequest {
            network: Some(network),
            ..Default::default()
        },
    }
}

#[test]
fn cgroups_made_by_others_are_enforced_in_each_mode_until_released() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("modes", &lab).unwrap();
    let (none, full, http) = (
        TestCgroup::create("modes-none").unwrap(),
        TestCgroup::create("modes-full").unwrap(),
        TestCgroup::create("modes-http").unwrap(),
    );
    let (h0, h1) = (IpAddr::V4(lab.host(0)), IpAddr::V4(lab.host(1)));
    attach(&agent, "none", &none, &["--network", "None"]);
    attach(&agent, "full", &full, &["--network", "Full"]);
    attach(
        &agent,
        "http",
        &http,
        &["--network", "HTTP", "--domain", &h0.to_string()],
    );

    assert!(tcp(&none, h0).is_eperm(), "None refuses at once");
    // A cgroup the task makes after it was enforced is enforced with it.
    let nested = none.child("made-later").unwrap();
    assert!(tcp(&nested, h0).is_eperm(), "a nested cgroup is covered");
    drop(nested);
    assert!(tcp(&full, h1).ok, "Full allows");
    assert!(tcp(&http, h0).ok, "HTTP allows its listed address");
    assert!(tcp(&http, h1).is_eperm(), "HTTP refuses the rest");

    let listed = agent.cli(&["list", "--json"]);
    assert_success(&listed, "list");
    let tasks: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(tasks.len(), 3);
    let none_view = tasks.iter().find(|t| t["id"] == "none").unwrap();
    assert_eq!(none_view["mode"], "none");
    assert!(
        none_view["counters"]["connect_denied"].as_u64() >= Some(1),
        "{none_view}"
    );

    let metrics = agent.client().metrics().unwrap();
    let refused = metric(
        &metrics,
        "enforcer_connects_total{task=\"none\",verdict=\"refused\"}",
    );
    assert!(refused >= 1.0, "{metrics}");
    let allowed = metric(
        &metrics,
        "enforcer_connects_total{task=\"full\",verdict=\"allowed\"}",
    );
    assert!(allowed >= 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "enforcer_tasks"), 3.0, "{metrics}");

    assert_success(&agent.cli(&["detach", "--id", "none"]), "detach");
    assert!(tcp(&none, h0).ok, "a released cgroup is no longer enforced");
    assert!(tcp(&http, h1).is_eperm(), "the other tasks still are");
}

#[test]
fn a_running_task_changes_mode_with_one_call() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("change", &lab).unwrap();
    let cgroup = TestCgroup::create("change").unwrap();
    let h0 = IpAddr::V4(lab.host(0));
    attach(&agent, "task", &cgroup, &["--network", "None"]);
    assert!(tcp(&cgroup, h0).is_eperm());
    assert_eq!(counter(&agent, "task", "connect_denied"), 1);
    let client = agent.client();
    let to_http = NetworkRequest {
        network: Some(json!({"Type": "HTTP", "Domains": [h0.to_string()]})),
        ..Default::default()
    };
    let view = client.change("task", &to_http).unwrap();
    assert_eq!(view.mode, "http");
    assert!(tcp(&cgroup, h0).ok, "allowed once changed to HTTP");
    let to_none = NetworkRequest {
        network: Some(json!({"Type": "None"})),
        ..Default::default()
    };
    client.change("task", &to_none).unwrap();
    assert!(
        tcp(&cgroup, h0).is_eperm(),
        "refused again once back to None"
    );
    assert_eq!(
        counter(&agent, "task", "connect_denied"),
        2,
        "the task's counters go on through its changes"
    );
}

#[test]
fn an_agent_at_max_tasks_refuses_more_and_a_freed_place_counts_from_zero() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start_with("capacity", &lab, "max_tasks: 2\n").unwrap();
    let (a, b, c) = (
        TestCgroup::create("capacity-a").unwrap(),
        TestCgroup::create("capacity-b").unwrap(),
        TestCgroup::create("capacity-c").unwrap(),
    );
    let h0 = IpAddr::V4(lab.host(0));
    attach(&agent, "a", &a, &["--network", "None"]);
    attach(&agent, "b", &b, &["--network", "None"]);
    for _ in 0..3 {
        assert!(tcp(&a, h0).is_eperm());
    }
    assert!(tcp(&b, h0).is_eperm());
    assert_eq!(counter(&agent, "a", "connect_denied"), 3);
    assert_eq!(
        counter(&agent, "b", "connect_denied"),
        1,
        "counters are per task"
    );

    let error = agent
        .client()
        .enforce(&request("c", &c, json!({"Type": "None"})))
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Api { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(api_error(&error).unwrap().error, "at_capacity");
    assert!(tcp(&c, h0).ok, "nothing of the refused task is enforced");

    assert_success(&agent.cli(&["detach", "--id", "a"]), "detach a");
    attach(&agent, "c", &c, &["--network", "None"]);
    assert_eq!(
        counter(&agent, "c", "connect_denied"),
        0,
        "a freed place starts at zero"
    );
    assert!(tcp(&c, h0).is_eperm());
    assert_eq!(counter(&agent, "c", "connect_denied"), 1);
    assert_eq!(counter(&agent, "b", "connect_denied"), 1);
}

#[test]
fn a_change_under_a_connecting_client_leaves_no_gap() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("no-gap", &lab).unwrap();
    let cgroup = TestCgroup::create("no-gap").unwrap();
    let (h0, h1) = (lab.host(0).to_string(), lab.host(1).to_string());
    attach(
        &agent,
        "task",
        &cgroup,
        &["--network", "HTTP", "--domain", &h0],
    );
    let mut changed_at = None;
    let targets = [format!("{h0}:80"), format!("{h1}:80")];
    let attempts = connect_loop(cgroup.command(&probe_bin()), &targets, |count| {
        if count == 200 {
            let both = NetworkRequest {
                network: Some(json!({"Type": "HTTP", "Domains": [h0, h1]})),
                ..Default::default()
            };
            agent.client().change("task", &both).unwrap();
            changed_at = Some(count);
        }
    });
    let changed_at = changed_at.expect("the change was made");
    assert!(
        attempts.len() > changed_at + 50,
        "too few attempts: {}",
        attempts.len()
    );
    // Attempts go on while the change is being made: h1 opens at one moment during it, and
    // stays open; h0 never fails.
    let mut h1_opened_at = None;
    for (i, attempt) in attempts.iter().enumerate() {
        if attempt.target == format!("{h0}:80") {
            assert!(
                attempt.ok,
                "h0, allowed throughout, failed at attempt {i}: {attempt:?}"
            );
        } else if i < changed_at {
            assert!(!attempt.ok, "h1 allowed at attempt {i}, before the change");
        } else if attempt.ok {
            h1_opened_at.get_or_insert(i);
        } else {
            assert!(
                h1_opened_at.is_none(),
                "h1 refused at attempt {i}, after it opened"
            );
        }
    }
    assert!(h1_opened_at.is_some(), "h1 never opened");
}

#[test]
fn gc_of_dead_runs_leaves_the_agents_tasks_alone() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let mut agent = TestAgent::start("gc", &lab).unwrap();
    let cgroup = TestCgroup::create("gc").unwrap();
    attach(&agent, "task", &cgroup, &["--network", "None"]);
    let mut sleeper = cgroup.spawn_idle();
    agent.kill9();
    let gc = std::process::Command::new(enforcer_bin())
        .arg("gc")
        .output()
        .unwrap();
    assert_success(&gc, "gc");
    assert!(
        std::fs::read_to_string(cgroup.path().join("cgroup.procs"))
            .unwrap()
            .lines()
            .count()
            >= 1,
        "gc killed a process of an agent's task"
    );
    assert!(
        tcp(&cgroup, IpAddr::V4(lab.host(0))).is_eperm(),
        "and the task is still enforced"
    );
    agent.restart().unwrap();
    assert_eq!(agent.client().status().unwrap().adopted, 1);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn a_change_does_not_wait_for_the_old_resolvers_open_connections() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("held-dns", &lab).unwrap();
    let cgroup = TestCgroup::create("held-dns").unwrap();
    attach(
        &agent,
        "task",
        &cgroup,
        &["--network", "HTTP", "--domain", "files.lab.test"],
    );
    // A DNS-over-TCP connection (steered to the task's resolver) the task keeps open.
    let mut command = cgroup.command(&probe_bin());
    command.args([
        "tcp",
        &lab.dns().to_string(),
        "53",
        "--hold",
        "--timeout-ms",
        "60000",
    ]);
    let mut holder = start_holding(command);
    let started = Instant::now();
    let to_none = NetworkRequest {
        network: Some(json!({"Type": "None"})),
        ..Default::default()
    };
    agent.client().change("task", &to_none).unwrap();
    // The old resolver's connections are closed with it, not waited for (its idle
    // timeout is 10 s; a client that keeps talking would hold a waiting agent forever).
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the change waited {took:?}");
    assert!(agent.client().list().is_ok(), "the agent answers");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn tasks_do_not_share_a_network_namespace_of_their_own() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("shared-netns", &lab).unwrap();
    let netns = ScratchNetns::create(&format!("{}-shared", lab.netns()));
    let (a, b) = (
        TestCgroup::create("shared-a").unwrap(),
        TestCgroup::create("shared-b").unwrap(),
    );
    let (mut in_a, mut in_b) = (netns.idle_in(&a), netns.idle_in(&b));
    let enforce = |id: &str, pid: u32, network: serde_json::Value| {
        let request = EnforceRequest {
            id: id.into(),
            cgroup: CgroupRef::Pid(pid),
            network: NetworkRequest {
                network: Some(network),
                ..Default::default()
            },
        };
        agent.client().enforce(&request)
    };
    enforce(
        "http",
        in_a.id(),
        json!({"Type": "HTTP", "Domains": ["files.lab.test"]}),
    )
    .unwrap();
    // A None task there could reach the HTTP task's resolver on their shared loopback.
    let refused = enforce("none", in_b.id(), json!({"Type": "None"})).unwrap_err();
    assert_eq!(
        api_error(&refused).map(|e| e.error).as_deref(),
        Some("cgroup_taken")
    );
    assert_eq!(agent.client().list().unwrap().len(), 1);
    for child in [&mut in_a, &mut in_b] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_release_for_a_stopped_task_leaves_a_running_one_alone() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("if-stopped", &lab).unwrap();
    let cgroup = TestCgroup::create("if-stopped").unwrap();
    let mut running = cgroup.spawn_idle();
    attach(&agent, "task", &cgroup, &["--network", "None"]);
    let refused = agent.client().release_if_stopped("task").unwrap_err();
    assert_eq!(
        api_error(&refused).map(|e| e.error).as_deref(),
        Some("still_running")
    );
    assert!(
        tcp(&cgroup, IpAddr::V4(lab.host(0))).is_eperm(),
        "still enforced"
    );
    running.kill().unwrap();
    running.wait().unwrap();
    agent.client().release_if_stopped("task").unwrap();
    assert!(agent.client().list().unwrap().is_empty());
}

#[test]
fn a_second_agent_over_the_same_state_does_not_start() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("second", &lab).unwrap();
    let cgroup = TestCgroup::create("second").unwrap();
    attach(
        &agent,
        "task",
        &cgroup,
        &["--network", "HTTP", "--domain", "files.lab.test"],
    );
    let second = agent.second();
    assert!(!second.status.success(), "a second agent started");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("another agent"), "{said}");
    let fetched = cgroup.probe(&["fetch", &lab.dns().to_string(), "files.lab.test"]);
    assert!(
        fetched.ok,
        "the first agent's task still has its resolver: {fetched:?}"
    );
}

#[test]
fn another_tasks_resolver_on_a_shared_loopback_is_refused_by_the_kernel() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("foreign-resolver", &lab).unwrap();
    let netns = ScratchNetns::create(&format!("{}-foreign", lab.netns()));
    let (http, none) = (
        TestCgroup::create("foreign-http").unwrap(),
        TestCgroup::create("foreign-none").unwrap(),
    );
    let mut in_http = http_task_in(&agent, &netns, &http);
    // Enforced while it had no process: its namespace was not known to the agent.
    attach(&agent, "none", &none, &["--network", "None"]);
    let port = netns.udp_loopback_ports()[0].to_string();
    let ask = |cgroup: &TestCgroup| {
        netns.probe_in(
            cgroup,
            &["dns", "127.0.0.1", "files.lab.test", "--port", &port],
        )
    };
    assert!(ask(&http).ok, "the HTTP task reaches its own resolver");
    let theirs = ask(&none);
    assert!(
        theirs.is_eperm(),
        "a None task used another's resolver: {theirs:?}"
    );
    let _ = in_http.kill();
    let _ = in_http.wait();
}

#[test]
fn no_task_can_take_a_dead_agents_resolver_port() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let mut agent = TestAgent::start("resolver-port", &lab).unwrap();
    let netns = ScratchNetns::create(&format!("{}-rport", lab.netns()));
    let (http, other) = (
        TestCgroup::create("rport-http").unwrap(),
        TestCgroup::create("rport-other").unwrap(),
    );
    let mut in_http = http_task_in(&agent, &netns, &http);
    attach(&agent, "full", &other, &["--network", "Full"]);
    let port = netns.udp_loopback_ports()[0].to_string();
    let asked = netns.probe_in(
        &http,
        &["dns", "127.0.0.1", "files.lab.test", "--port", &port],
    );
    assert!(
        asked.ok,
        "the task reaches its live resolver directly: {asked:?}"
    );
    // A socket the task connected to its resolver while the agent was up.
    let mut connected = start_holding(
        netns.probe_command(&http, &["udp", "127.0.0.1", &port, "--connect", "--hold"]),
    );

    agent.kill9();
    for args in [
        ["bind", "127.0.0.1", &port, "--tcp"],
        ["bind", "0.0.0.0", &port, "--tcp"],
    ] {
        // UDP too: the tcp flag goes last, so leaving it out is the UDP bind.
        for args in [&args[..], &args[..3]] {
            for cgroup in [&http, &other] {
                let bound = netns.probe_in(cgroup, args);
                assert!(bound.is_eperm(), "{args:?} from a task: {bound:?}");
            }
        }
    }
    // A process of the node in no task can take the port, but the task's DNS does not go
    // to it: the socket there lacks the resolver's mark.
    let impostor = HostService::dns_in(
        &netns.name,
        "127.0.0.1".parse().unwrap(),
        port.parse().unwrap(),
    )
    .unwrap();
    let steered = netns.probe_in(&http, &["dns", &lab.dns().to_string(), "files.lab.test"]);
    assert!(steered.is_eperm(), "steered to an impostor: {steered:?}");
    // Named directly: connected, over TCP, and by sendto.
    for how in [None, Some("--tcp"), Some("--unconnected")] {
        let mut args = vec!["dns", "127.0.0.1", "files.lab.test", "--port", &port];
        args.extend(how);
        let sent = netns.probe_in(&http, &args);
        assert!(sent.is_eperm(), "{how:?} reached an impostor: {sent:?}");
    }
    assert!(!impostor.queried(), "a query reached the impostor");
    let outside = netns.probe_outside(&["dns", "127.0.0.1", "files.lab.test", "--port", &port]);
    assert!(outside.ok, "the impostor answers others: {outside:?}");
    drop(impostor);
    // Its packets don't reach whoever holds the port now either.
    let echo = HostService::udp_echo_in(
        &netns.name,
        "127.0.0.1".parse().unwrap(),
        port.parse().unwrap(),
    )
    .unwrap();
    writeln!(connected.stdin.take().unwrap()).unwrap();
    let output = connected.wait_with_output().unwrap();
    let sent = enforcer_tests::ProbeResult::from_stdout(&output.stdout).unwrap();
    assert!(
        sent.is_eperm(),
        "a connected socket reached the port's new holder: {sent:?}"
    );
    assert!(!echo.echoed(), "a datagram reached the port's new holder");
    let outside = netns.probe_outside(&["udp", "127.0.0.1", &port]);
    assert!(outside.ok, "the new holder echoes others: {outside:?}");
    drop(echo);
    // Nor can a task make its socket pass for the resolver: the mark is refused.
    let mark = enforcer_common::RESOLVER_MARK.to_string();
    let marked = netns.probe_in(&http, &["mark", &mark]);
    assert!(
        marked.is_eperm(),
        "a task set the resolvers' mark: {marked:?}"
    );
    let full_marked = netns.probe_in(&other, &["mark", &mark]);
    assert!(full_marked.ok, "a Full task may set marks: {full_marked:?}");

    agent.restart().unwrap();
    assert_eq!(counter(&agent, "http", "sockets_denied"), 4);
    assert_eq!(counter(&agent, "full", "sockets_denied"), 4);
    let asked = netns.probe_in(&http, &["dns", &lab.dns().to_string(), "files.lab.test"]);
    assert!(asked.ok, "the new agent answers the task: {asked:?}");
    // The new resolver listens on a port of its own; the old one is nobody's any more.
    let new_port = netns.udp_loopback_ports()[0].to_string();
    let taken = netns.probe_in(&http, &["bind", "127.0.0.1", &new_port]);
    assert!(taken.is_eperm(), "{taken:?}");
    if new_port != port {
        let freed = netns.probe_in(&http, &["bind", "127.0.0.1", &port]);
        assert!(freed.ok, "the dead resolver's port stays barred: {freed:?}");
    }
    let _ = in_http.kill();
    let _ = in_http.wait();
}

/// Starts a probe given `--hold` and returns once it is connected and holding; its stdin
/// (a line lets it go on) and stdout are piped.
fn start_holding(mut command: Command) -> Child {
    let mut child = command
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert!(
        said.contains("connected"),
        "the hold did not connect: {said}"
    );
    child
}

/// Task "http" (HTTP, `files.lab.test`) enforced by the pid of an idle process in `cgroup`
/// and in `netns`, as a container in a network namespace of its own; returns the process.
fn http_task_in(agent: &TestAgent, netns: &ScratchNetns, cgroup: &TestCgroup) -> Child {
    let process = netns.idle_in(cgroup);
    let request = EnforceRequest {
        id: "http".into(),
        cgroup: CgroupRef::Pid(process.id()),
        network: NetworkRequest {
            network: Some(json!({"Type": "HTTP", "Domains": ["files.lab.test"]})),
            ..Default::default()
        },
    };
    agent.client().enforce(&request).unwrap();
    process
}

/// A network namespace of the test's own (loopback up), deleted on drop.
struct ScratchNetns {
    name: String,
}

impl ScratchNetns {
    fn create(name: &str) -> ScratchNetns {
        let ip = |args: &[&str]| {
            let status = std::process::Command::new("ip")
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "ip {args:?}");
        };
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", name]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
        ScratchNetns { name: name.into() }
    }

    /// The UDP ports bound on 127.0.0.1 in this namespace.
    fn udp_loopback_ports(&self) -> Vec<u16> {
        let output = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "cat", "/proc/net/udp"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let local = line.split_whitespace().nth(1)?;
                let (addr, port) = local.split_once(':')?;
                (addr == "0100007F").then(|| u16::from_str_radix(port, 16).ok())?
            })
            .collect()
    }

    /// `enforcer-probe ARGS...` to run in `cgroup` and in this namespace.
    fn probe_command(&self, cgroup: &TestCgroup, args: &[&str]) -> Command {
        let mut command = cgroup.command(std::path::Path::new("/usr/bin/nsenter"));
        command
            .arg(format!("--net=/run/netns/{}", self.name))
            .arg(probe_bin())
            .args(args);
        command
    }

    /// `enforcer-probe ARGS...` run in this namespace by a process in no task's cgroup.
    fn probe_outside(&self, args: &[&str]) -> enforcer_tests::ProbeResult {
        enforcer_tests::run_probe_in_netns(&self.name, args)
    }

    /// `enforcer-probe ARGS...` run in `cgroup` and in this namespace.
    fn probe_in(&self, cgroup: &TestCgroup, args: &[&str]) -> enforcer_tests::ProbeResult {
        let output = self.probe_command(cgroup, args).output().unwrap();
        enforcer_tests::ProbeResult::from_stdout(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "probe {args:?}: {e:#}: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }

    /// An idle process in `cgroup` and in this namespace, once it is in both.
    fn idle_in(&self, cgroup: &TestCgroup) -> Child {
        let child = cgroup
            .command(std::path::Path::new("/usr/bin/nsenter"))
            .arg(format!("--net=/run/netns/{}", self.name))
            .args(["sleep", "infinity"])
            .spawn()
            .unwrap();
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let inode = || std::fs::metadata(format!("/proc/{}/ns/net", child.id())).map(|m| m.ino());
        let deadline = Instant::now() + Duration::from_secs(10);
        while inode().is_ok_and(|i| i == ours) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }
}

impl Drop for ScratchNetns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn refusals_stream_as_events_naming_the_task() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("events", &lab).unwrap();
    let cgroup = TestCgroup::create("events").unwrap();
    attach(&agent, "watched", &cgroup, &["--network", "None"]);
    let (sender, received) = mpsc::channel();
    let client = agent.client();
    std::thread::spawn(move || {
        let _ = client.events(|line| match line {
            EventLine::Event(event) => match sender.send(event) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            },
            EventLine::Lagged { .. } => ControlFlow::Continue(()),
        });
    });
    // The stream is open once the agent has it; refuse until an event arrives.
    let h0 = IpAddr::V4(lab.host(0));
    let event = (0..50)
        .find_map(|_| {
            assert!(tcp(&cgroup, h0).is_eperm());
            received.recv_timeout(Duration::from_millis(200)).ok()
        })
        .expect("a refusal event");
    assert_eq!(event.task, "watched");
    assert_eq!(event.denial.reason, "network-none");
    assert_eq!(
        event.denial.destination.as_deref(),
        Some(&*format!("{h0}:80"))
    );
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("bad", &lab).unwrap();
    let enforced = TestCgroup::create("bad-enforced").unwrap();
    let free = TestCgroup::create("bad-free").unwrap();
    let nested = enforced.child("nested").unwrap();
    let client = agent.client();
    client
        .enforce(&request("kept", &enforced, json!({"Type": "None"})))
        .unwrap();
    let h0 = IpAddr::V4(lab.host(0));
    let none = json!({"Type": "None"});
    let bad: Vec<(&str, EnforceRequest, &str)> = vec![
        (
            "duplicate id",
            request("kept", &free, none.clone()),
            "duplicate_id",
        ),
        (
            "same cgroup",
            request("other", &enforced, none.clone()),
            "cgroup_taken",
        ),
        (
            "nested cgroup",
            request("other", &nested, none.clone()),
            "cgroup_taken",
        ),
        (
            "HTTP without domains",
            request("other", &free, json!({"Type": "HTTP"})),
            "bad_spec",
        ),
        (
            "unknown type",
            request("other", &free, json!({"Type": "Sideways"})),
            "bad_spec",
        ),
        (
            "bad domain",
            request(
                "other",
                &free,
                json!({"Type": "HTTP", "Domains": ["exa mple.com"]}),
            ),
            "bad_spec",
        ),
        (
            "bad id",
            request("../x", &free, none.clone()),
            "bad_request",
        ),
        (
            "no such cgroup",
            EnforceRequest {
                cgroup: CgroupRef::Path("/sys/fs/cgroup/unified/no-such-cgroup".into()),
                ..request("other", &free, none.clone())
            },
            "unknown_cgroup",
        ),
        (
            "no such process",
            EnforceRequest {
                cgroup: CgroupRef::Pid(u32::MAX - 1),
                ..request("other", &free, none.clone())
            },
            "unknown_cgroup",
        ),
        (
            "the root cgroup",
            EnforceRequest {
                cgroup: CgroupRef::Pid(1),
                ..request("other", &free, none.clone())
            },
            "unknown_cgroup",
        ),
        (
            "both network and job",
            EnforceRequest {
                network: NetworkRequest {
                    network: Some(none.clone()),
                    job: Some(enforcer::agent::api::JobRef {
                        spec: "{}".into(),
                        task: None,
                    }),
                    http_ports: vec![],
                },
                ..request("other", &free, none.clone())
            },
            "bad_request",
        ),
    ];
    for (what, request, kind) in bad {
        let error = client.enforce(&request).expect_err(what);
        let body = api_error(&error).unwrap_or_else(|| panic!("{what}: {error}"));
        assert_eq!(body.error, kind, "{what}: {}", body.message);
    }
    let tasks = client.list().unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].id, "kept");
    assert!(tcp(&free, h0).ok, "a refused request enforced nothing");
    assert!(
        tcp(&enforced, h0).is_eperm(),
        "and left the task it hit as it was"
    );
    let refusal = Refusal::NotFound("x".into());
    let gone = client.release("no-such-task").expect_err("unknown task");
    assert_eq!(
        api_error(&gone).map(|e| e.error),
        Some(refusal.body().error)
    );
}

#[test]
fn a_killed_agent_leaves_every_policy_in_force_and_a_new_one_takes_over() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let mut agent = TestAgent::start("crash", &lab).unwrap();
    let none = TestCgroup::create("crash-none").unwrap();
    let http = TestCgroup::create("crash-http").unwrap();
    let gone = TestCgroup::create("crash-gone").unwrap();
    let (h0, h1) = (IpAddr::V4(lab.host(0)), IpAddr::V4(lab.host(1)));
    let dns = lab.dns().to_string();
    attach(&agent, "none", &none, &["--network", "None"]);
    attach(
        &agent,
        "http",
        &http,
        &["--network", "HTTP", "--domain", "files.lab.test"],
    );
    attach(&agent, "gone", &gone, &["--network", "None"]);
    let fetched = http.probe(&["fetch", &dns, "files.lab.test"]);
    assert!(fetched.ok, "a name of the spec works: {fetched:?}");

    let none_refused = counter(&agent, "none", "connect_denied");
    agent.kill9();
    assert!(
        tcp(&none, h0).is_eperm(),
        "None stays closed without the agent"
    );
    assert!(tcp(&http, h0).ok, "HTTP keeps what it had looked up");
    assert!(tcp(&http, h1).is_eperm(), "and refuses the rest");
    let lookup = http.probe(&["dns", &dns, "files.lab.test", "--timeout-ms", "500"]);
    assert!(
        !lookup.ok,
        "new lookups fail closed while the agent is down: {lookup:?}"
    );
    drop(gone);

    agent.restart().unwrap();
    let status = agent.client().status().unwrap();
    assert_eq!(status.adopted, 2, "{}", agent.log());
    assert_eq!(
        counter(&agent, "none", "connect_denied"),
        none_refused + 1,
        "counters outlive the agent, and count while it is down"
    );
    let ids: Vec<String> = agent
        .client()
        .list()
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        ids,
        ["http", "none"],
        "the task whose cgroup went is released"
    );
    let fetched = http.probe(&["fetch", &dns, "files.lab.test"]);
    assert!(fetched.ok, "lookups work again: {fetched:?}");
    let metrics = agent.client().metrics().unwrap();
    assert!(
        metric(&metrics, "enforcer_dns_answer_seconds_count") >= 1.0,
        "{metrics}"
    );
    let answered = "enforcer_dns_answers_total{task=\"http\",verdict=\"answered\"}";
    assert!(metric(&metrics, answered) >= 1.0, "{metrics}");
    assert!(tcp(&none, h0).is_eperm(), "None is still closed");
    assert!(tcp(&http, h1).is_eperm());
    assert_success(
        &agent.cli(&["detach", "--id", "http"]),
        "detach after restart",
    );
    assert!(tcp(&http, h1).ok, "a task taken over can be released");
}

#[test]
fn an_agent_refuses_to_start_over_pins_of_an_unknown_format() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let mut agent = TestAgent::start("format", &lab).unwrap();
    let cgroup = TestCgroup::create("format").unwrap();
    attach(&agent, "task", &cgroup, &["--network", "None"]);
    agent.kill9();
    let future = agent.pin_dir().join("format-99");
    std::fs::create_dir_all(&future).unwrap();
    let error = agent.restart().unwrap_err().to_string();
    assert!(error.contains("format-99"), "{error}");
    assert!(
        tcp(&cgroup, IpAddr::V4(lab.host(0))).is_eperm(),
        "the task stays enforced as pinned"
    );
    std::fs::remove_dir(&future).unwrap();
    agent.restart().unwrap();
    assert_eq!(agent.client().list().unwrap().len(), 1);
}
