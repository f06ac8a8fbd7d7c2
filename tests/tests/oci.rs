//! The OCI hook end to end: real runc containers whose `createRuntime` and `poststop` hooks
//! are `enforcer oci-hook`, a real `enforcer daemon` behind it, and the lab.
//!
//! Containers that talk to the lab run as a container runtime's bridge network would put
//! them: in a network namespace of their own ([`ContainerNet`]) whose `eth0` is a veth to
//! the node. The node's side has an address of its own (`10.216.<lab>.1`, one of the node's
//! addresses); the container's (`10.216.<lab>.2`) routes the lab's network through it, and
//! the node forwards between that veth and the lab's (forwarding is switched on for those two
//! links only, never for the whole node).

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use enforcer::{
    agent::api::TaskView,
    oci::{ANNOTATION_DOMAINS, ANNOTATION_HTTP_PORTS, ANNOTATION_TYPE},
};
use enforcer_tests::{
    agent::TestAgent,
    container::{runtime_available, Bundle, Container, Hook, NetworkNamespace},
    enforcer_bin,
    expect::tcp_hits,
    lab_or_skip, HostService, Lab, ProbeResult,
};

/// The file a container's program writes first: there only if the program ran.
const MARKER: &str = "started";

/// The line a watched container prints once its probes are done.
const DONE: &str = "probes-done";

/// How long a container's probes may take, all of them.
const PROBES_LIMIT: Duration = Duration::from_secs(30);

/// How long the agent may take to log a denial after the kernel refused.
const LOG_LIMIT: Duration = Duration::from_secs(5);

/// An address no one serves, with no route to it in a [`ContainerNet`]: only the kernel's
/// steering to the task's resolver can answer a query sent there.
const NOWHERE: &str = "192.0.2.53";

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Both halves of runc's output: the hook's message is in its stderr.
fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    )
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A bundle whose container has `enforcer-probe`, the enforcer's hooks at both stages
/// (talking to `agent`, with `default_network` for unannotated containers), and the
/// network `network`.
fn enforced_bundle(
    name: &str,
    agent: &TestAgent,
    default_network: &str,
    network: NetworkNamespace,
) -> Bundle {
    let mut bundle = Bundle::create(name).unwrap();
    bundle.install_probe().unwrap();
    let config = hook_config(&bundle, agent, default_network);
    let hook = |stage: &str| {
        let config = config.to_str().unwrap();
        Hook::new(
            enforcer_bin(),
            &["oci-hook", "--config", config, "--stage", stage],
        )
    };
    bundle
        .configure(|c| {
            c.create_runtime = vec![hook("create-runtime")];
            c.poststop = vec![hook("poststop")];
            c.network = network;
        })
        .unwrap();
    bundle
}

/// (Re)writes the hook's config in the bundle's directory: the agent's socket and what
/// unannotated containers get.
fn hook_config(bundle: &Bundle, agent: &TestAgent, default_network: &str) -> PathBuf {
    let path = bundle.dir().join("enforcer-hook.yaml");
    let text = format!(
        "socket: {:?}\ndefault_network: {default_network}\n",
        agent.socket().to_str().unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A shell line running `enforcer-probe ARGS...`.
fn probe(args: &[&str]) -> String {
    for arg in args {
        assert!(
            arg.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:_/".contains(c)),
            "{arg:?} would need quoting"
        );
    }
    format!("enforcer-probe {}", args.join(" "))
}

/// The tasks of the agent with the container's id.
fn task_of(agent: &TestAgent, id: &str) -> Option<TaskView> {
    agent
        .client()
        .list()
        .unwrap_or_else(|e| panic!("listing the agent's tasks: {e}\n{}", agent.log()))
        .into_iter()
        .find(|task| task.id == id)
}

/// What a container did, seen from outside while it ran and after it was gone.
struct Watched {
    /// One result per probe of its script, in order.
    results: Vec<ProbeResult>,
    /// The agent's task for the container while it ran.
    while_running: Option<TaskView>,
    /// The agent's task for the container after `runc delete` (its poststop hook) ran.
    after_delete: Option<TaskView>,
    /// The container's and runc's output.
    log: String,
}

/// Runs the bundle's container detached with `prelude` then `probes` (shell lines), looks at
/// the agent's tasks once the probes are done, then stops and deletes the container, which
/// runs the poststop hook.
fn run_watched(
    bundle: &mut Bundle,
    agent: &TestAgent,
    prelude: &str,
    probes: &[String],
) -> Watched {
    let id = bundle.id().to_owned();
    run_watched_as(&id, bundle, agent, prelude, probes)
}

/// [`run_watched`] with container id `id`.
fn run_watched_as(
    id: &str,
    bundle: &mut Bundle,
    agent: &TestAgent,
    prelude: &str,
    probes: &[String],
) -> Watched {
    let body = format!(
        "touch /{MARKER}\n{prelude}\n{}\necho {DONE}\nexec sleep 600",
        probes.join("\n")
    );
    bundle
        .configure(|c| c.args = vec!["sh".into(), "-c".into(), body])
        .unwrap();
    let _ = std::fs::remove_file(bundle.rootfs().join(MARKER));
    let container = Container::start_detached(bundle, id)
        .unwrap_or_else(|e| panic!("{e:#}\nagent log:\n{}", agent.log()));
    let deadline = Instant::now() + PROBES_LIMIT;
    while !container.log().lines().any(|line| line == DONE) {
        assert!(
            Instant::now() < deadline,
            "the container's probes did not finish within {PROBES_LIMIT:?}:\n{}",
            container.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = container.log();
    let results: Vec<ProbeResult> = log
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| {
            ProbeResult::from_stdout(line.as_bytes()).unwrap_or_else(|e| panic!("{e:#}: {log}"))
        })
        .collect();
    assert_eq!(
        results.len(),
        probes.len(),
        "one result per probe, in the container's output:\n{log}"
    );
    let while_running = task_of(agent, id);
    container.kill("KILL").unwrap();
    container.wait_stopped(Duration::from_secs(10)).unwrap();
    let deleted = container.delete().unwrap();
    // runc 1.1 logs a failing poststop hook (`level=error`) and still exits 0.
    assert!(
        deleted.status.success() && !all_output(&deleted).contains("level=error"),
        "runc delete and its poststop hook: {}\nagent log:\n{}",
        all_output(&deleted),
        agent.log()
    );
    let after_delete = task_of(agent, id);
    Watched {
        results,
        while_running,
        after_delete,
        log,
    }
}

/// Waits until the agent has logged a refusal of task `id` for `reason` to `destination`.
fn assert_denial_logged(agent: &TestAgent, id: &str, reason: &str, destination: &str) {
    let wanted = [
        format!("task=\"{id}\""),
        format!("reason=\"{reason}\""),
        format!("destination={destination} "),
    ];
    let deadline = Instant::now() + LOG_LIMIT;
    loop {
        let log = without_ansi(&agent.log());
        if log
            .lines()
            .any(|line| wanted.iter().all(|part| line.contains(part.as_str())))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no refusal {wanted:?} in the agent's log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `text` without its ANSI escape sequences (the agent colours its log).
fn without_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, then one final byte in @..~.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// A container network of the test's own (see the module doc): namespace `<lab netns>-oci`
/// with `lo` up and `eth0`, a veth pair to the node. Removed on drop (drop it before its lab).
struct ContainerNet {
    name: String,
    host_link: String,
    /// The lab's host-side link, forwarding while this network exists.
    lab_link: String,
    lab_netns: String,
    subnet: String,
    node_addr: Ipv4Addr,
}

impl ContainerNet {
    fn create(lab: &Lab) -> ContainerNet {
        sweep_stale_nets();
        let i = lab.index();
        let net = ContainerNet {
            name: format!("{}-oci", lab.netns()),
            host_link: format!("enfo{i}h"),
            lab_link: link_with_address(lab.gateway()),
            lab_netns: lab.netns().to_owned(),
            subnet: format!("10.216.{i}.0/24"),
            node_addr: Ipv4Addr::new(10, 216, i, 1),
        };
        // Left by a killed test of a lab with this index, which is ours now.
        let _ = ip(&["link", "del", &net.host_link]);
        let _ = ip(&["netns", "del", &net.name]);
        let container_addr = Ipv4Addr::new(10, 216, i, 2);
        let (host_mac, container_mac) = (
            format!("02:16:00:{i:02x}:00:01"),
            format!("02:16:00:{i:02x}:00:02"),
        );
        let [a, b, c, _] = lab.gateway().octets();
        let lab_subnet = format!("{a}.{b}.{c}.0/24");
        let gateway = lab.gateway().to_string();
        let node_addr = net.node_addr.to_string();
        let (host, name) = (net.host_link.as_str(), net.name.as_str());
        ip(&["netns", "add", name]).unwrap();
        ip(&[
            "link",
            "add",
            host,
            "address",
            &host_mac,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "address",
            &container_mac,
            "netns",
            name,
        ])
        .unwrap();
        ip(&["addr", "add", &format!("{node_addr}/24"), "dev", host]).unwrap();
        // Fixed neighbours: a fresh link can lose the first ARP request (1 s to retry).
        let container_ip = container_addr.to_string();
        ip(&[
            "neigh",
            "add",
            &container_ip,
            "lladdr",
            &container_mac,
            "dev",
            host,
            "nud",
            "permanent",
        ])
        .unwrap();
        ip(&["link", "set", host, "up"]).unwrap();
        let inside: [&[&str]; 5] = [
            &["link", "set", "lo", "up"],
            &["addr", "add", &format!("{container_ip}/24"), "dev", "eth0"],
            &[
                "neigh",
                "add",
                &node_addr,
                "lladdr",
                &host_mac,
                "dev",
                "eth0",
                "nud",
                "permanent",
            ],
            &["link", "set", "eth0", "up"],
            &["route", "add", &lab_subnet, "via", &node_addr],
        ];
        for args in inside {
            let mut all = vec!["-n", name];
            all.extend_from_slice(args);
            ip(&all).unwrap();
        }
        ip(&[
            "-n",
            &net.lab_netns,
            "route",
            "add",
            &net.subnet,
            "via",
            &gateway,
        ])
        .unwrap();
        forwarding(&net.host_link, true);
        forwarding(&net.lab_link, true);
        net.wait_reaches(lab.host(0).into(), 8080);
        net
    }

    /// `/run/netns/<name>`, for a container to join.
    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// The node's address on the container's veth: one of the node's own addresses.
    fn node_addr(&self) -> Ipv4Addr {
        self.node_addr
    }

    /// `enforcer-probe ARGS...` run by the node in this namespace, outside any container:
    /// what the container would get if nothing enforced it.
    fn probe(&self, args: &[&str]) -> ProbeResult {
        enforcer_tests::run_probe_in_netns(&self.name, args)
    }

    /// Waits until the lab answers from this namespace: the node forwards for it.
    fn wait_reaches(&self, addr: IpAddr, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let result = self.probe(&["tcp", &addr.to_string(), &port.to_string()]);
            if result.ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{addr}:{port} does not answer from {} through the node: {result:?} \
                 (does a firewall drop forwarded packets?)",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ContainerNet {
    fn drop(&mut self) {
        forwarding(&self.lab_link, false);
        let _ = ip(&["-n", &self.lab_netns, "route", "del", &self.subnet]);
        // The link first: deleting the namespace removes the pair only later.
        let _ = ip(&["link", "del", &self.host_link]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Deletes the container networks whose lab is gone (their test was killed): each is
/// dropped before its lab.
fn sweep_stale_nets() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if let Some(lab) = name.strip_suffix("-oci") {
            if !Path::new("/run/netns").join(lab).exists() {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
}

/// Runs `ip ARGS...`; its stdout, or its stderr as the error.
fn ip(args: &[&str]) -> Result<String, String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("ip {}: {}", args.join(" "), stderr(&output).trim()))
    }
}

/// The node's link holding `addr`.
fn link_with_address(addr: Ipv4Addr) -> String {
    let out = ip(&["-o", "-4", "addr", "show", "to", &format!("{addr}/32")]).unwrap();
    // `7: enf3h    inet 10.213.3.1/24 ...`
    out.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no link has {addr}: {out:?}"))
        .to_owned()
}

/// Lets the node forward what arrives on `link` (IPv4), or not.
fn forwarding(link: &str, on: bool) {
    let path = format!("/proc/sys/net/ipv4/conf/{link}/forwarding");
    let result = std::fs::write(&path, if on { "1" } else { "0" });
    if on {
        result.unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
}

#[test]
fn an_annotated_none_container_is_refused_at_once_and_released_when_it_stops() {
    if !runtime_available() {
        return;
    }
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("oci-none", &lab).unwrap();
    let net = ContainerNet::create(&lab);
    let h0 = lab.host(0).to_string();
    let mut bundle = enforced_bundle(
        "oci-none",
        &agent,
        "skip",
        NetworkNamespace::Join(net.path()),
    );
    bundle
        .configure(|c| c.annotations = annotations(&[(ANNOTATION_TYPE, "None")]))
        .unwrap();

    let watched = run_watched(&mut bundle, &agent, "", &[probe(&["tcp", &h0, "80"])]);
    let result = &watched.results[0];
    assert!(
        result.is_eperm() && result.elapsed_ms < 1000,
        "None refuses at once: {result:?}\n{}",
        watched.log
    );
    assert!(
        !lab.contacted(lab.host(0).into(), 80),
        "the lab never saw the container"
    );
    assert_denial_logged(&agent, bundle.id(), "network-none", &format!("{h0}:80"));
    let task = watched
        .while_running
        .expect("the agent lists the container's task while it runs");
    assert_eq!(task.mode, "none");
    assert!(
        task.cgroup
            .ends_with(bundle.config().cgroups_path.trim_start_matches('/')),
        "the container's own cgroup: {}",
        task.cgroup.display()
    );
    assert!(
        watched.after_delete.is_none(),
        "the poststop hook released the task: {:?}",
        watched.after_delete
    );
    assert!(
        net.probe(&["tcp", &h0, "80"]).ok,
        "the lab host answers the container's namespace when nothing enforces it"
    );
}

#[test]
fn an_annotated_http_container_fetches_its_domain_and_nothing_else() {
    if !runtime_available() {
        return;
    }
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("oci-http", &lab).unwrap();
    let net = ContainerNet::create(&lab);
    let (dns, h0, h1) = (
        lab.dns().to_string(),
        lab.host(0).to_string(),
        lab.host(1).to_string(),
    );
    let mut bundle = enforced_bundle(
        "oci-http",
        &agent,
        "skip",
        NetworkNamespace::Join(net.path()),
    );
    bundle
        .configure(|c| {
            c.annotations = annotations(&[
                (ANNOTATION_TYPE, "HTTP"),
                (ANNOTATION_DOMAINS, "files.lab.test"),
            ]);
        })
        .unwrap();

    let watched = run_watched(
        &mut bundle,
        &agent,
        "",
        &[
            probe(&["fetch", &dns, "files.lab.test"]),
            probe(&["tcp", &h1, "80"]),
        ],
    );
    let (fetched, other) = (&watched.results[0], &watched.results[1]);
    assert!(
        fetched.ok
            && fetched
                .reply
                .as_deref()
                .is_some_and(|r| r.starts_with(&format!("{h0} hello from {h0}:80"))),
        "the listed name is looked up and fetched: {fetched:?}\n{}",
        watched.log
    );
    assert!(
        other.is_eperm(),
        "another lab host is refused: {other:?}\n{}",
        watched.log
    );
    assert!(!lab.contacted(lab.host(1).into(), 80));
    let task = watched.while_running.expect("an HTTP task while it runs");
    assert_eq!(task.mode, "http");
    assert_eq!(task.domains, ["files.lab.test"]);
    assert!(watched.after_delete.is_none(), "released at poststop");
    assert!(
        net.probe(&["tcp", &h1, "80"]).ok,
        "the refused host answers when nothing enforces"
    );
}

#[test]
fn an_unannotated_container_is_left_alone_unless_the_node_says_none() {
    if !runtime_available() {
        return;
    }
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("oci-plain", &lab).unwrap();
    let net = ContainerNet::create(&lab);
    let h0 = lab.host(0);
    let h0_text = h0.to_string();
    let script = [probe(&["tcp", &h0_text, "80"])];
    let mut bundle = enforced_bundle(
        "oci-plain",
        &agent,
        "skip",
        NetworkNamespace::Join(net.path()),
    );
    assert!(bundle.config().annotations.is_empty());

    // Under an id runc takes and a task id can't be (`+`): never the agent's business, even
    // at poststop.
    let plus_id = format!("{}+plain", bundle.id());
    let before = tcp_hits(&lab, h0.into(), 80);
    let left_alone = run_watched_as(&plus_id, &mut bundle, &agent, "", &script);
    assert!(
        left_alone.results[0].ok,
        "an unannotated container keeps its network: {:?}\n{}",
        left_alone.results[0], left_alone.log
    );
    assert_eq!(tcp_hits(&lab, h0.into(), 80), before + 1);
    assert!(
        left_alone.while_running.is_none(),
        "the agent has no task for it: {:?}",
        left_alone.while_running
    );

    // The same container on a node whose agent config says `default_network: none`.
    hook_config(&bundle, &agent, "none");
    let before = tcp_hits(&lab, h0.into(), 80);
    let defaulted = run_watched(&mut bundle, &agent, "", &script);
    assert!(
        defaulted.results[0].is_eperm(),
        "enforced None: {:?}\n{}",
        defaulted.results[0],
        defaulted.log
    );
    assert_eq!(
        tcp_hits(&lab, h0.into(), 80),
        before,
        "the lab never saw it"
    );
    let task = defaulted.while_running.expect("enforced under its id");
    assert_eq!(task.mode, "none");
    assert!(defaulted.after_delete.is_none(), "released at poststop");
}

#[test]
fn a_container_with_a_bad_annotation_does_not_start() {
    if !runtime_available() {
        return;
    }
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("oci-bad", &lab).unwrap();
    let mut bundle = enforced_bundle("oci-bad", &agent, "skip", NetworkNamespace::New);
    let marker = bundle.rootfs().join(MARKER);
    let touch = vec!["touch".to_owned(), format!("/{MARKER}")];
    let cases = [
        (
            "an unknown type",
            annotations(&[(ANNOTATION_TYPE, "Sideways")]),
            ANNOTATION_TYPE,
        ),
        (
            "domains without a type",
            annotations(&[(ANNOTATION_DOMAINS, "files.lab.test")]),
            "without io.bacalhau.network.type",
        ),
        (
            "domains with type None",
            annotations(&[
                (ANNOTATION_TYPE, "None"),
                (ANNOTATION_DOMAINS, "files.lab.test"),
            ]),
            ANNOTATION_DOMAINS,
        ),
        (
            "HTTP ports that are not ports",
            annotations(&[
                (ANNOTATION_TYPE, "HTTP"),
                (ANNOTATION_DOMAINS, "files.lab.test"),
                (ANNOTATION_HTTP_PORTS, "80, 99999"),
            ]),
            ANNOTATION_HTTP_PORTS,
        ),
        (
            "a misspelt annotation",
            annotations(&[
                (ANNOTATION_TYPE, "None"),
                ("io.bacalhau.network.domain", "files.lab.test"),
            ]),
            "io.bacalhau.network.domain",
        ),
    ];
    for (what, bad, named) in cases {
        bundle
            .configure(|c| {
                c.args = touch.clone();
                c.annotations = bad;
            })
            .unwrap();
        let output = Container::run(&bundle, bundle.id()).unwrap();
        assert!(
            !output.status.success(),
            "{what}: runc must fail the container\n{}",
            all_output(&output)
        );
        assert!(
            stderr(&output).contains(named),
            "{what}: the hook's message names {named}: {}",
            stderr(&output)
        );
        assert!(!marker.exists(), "{what}: the program must not have run");
        let tasks = agent.client().list().unwrap();
        assert!(tasks.is_empty(), "{what}: no task: {tasks:?}");
    }

    // The same container with a good annotation runs and writes the marker.
    bundle
        .configure(|c| c.annotations = annotations(&[(ANNOTATION_TYPE, "None")]))
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(output.status.success(), "{}", all_output(&output));
    assert!(marker.exists(), "the marker tells that the program ran");
    assert!(agent.client().list().unwrap().is_empty(), "released");
}

#[test]
fn an_annotated_container_does_not_start_without_the_agent() {
    if !runtime_available() {
        return;
    }
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let mut agent = TestAgent::start("oci-down", &lab).unwrap();
    let mut bundle = enforced_bundle("oci-down", &agent, "skip", NetworkNamespace::New);
    let marker = bundle.rootfs().join(MARKER);
    bundle
        .configure(|c| {
            c.args = vec!["touch".to_owned(), format!("/{MARKER}")];
            c.annotations = annotations(&[(ANNOTATION_TYPE, "None")]);
        })
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(
        output.status.success() && marker.exists(),
        "runs with the agent up: {}",
        all_output(&output)
    );
    std::fs::remove_file(&marker).unwrap();

    agent.kill9();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(
        !output.status.success(),
        "fails closed without the agent: {}",
        all_output(&output)
    );
    assert!(!marker.exists(), "the program must not have run");
    let socket = agent.socket().display().to_string();
    assert!(
        stderr(&output).contains(&socket),
        "the error names the agent's socket {socket}: {}",
        stderr(&output)
    );
}

#[test]
fn a_container_in_its_own_namespace_keeps_its_loopback_and_gets_its_resolver() {
    if !runtime_available() {
        return;
    }
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let agent = TestAgent::start("oci-netns", &lab).unwrap();
    let net = ContainerNet::create(&lab);
    // A service of the node on its address facing the container, listed by the container.
    let service = HostService::start(net.node_addr().into(), 0).unwrap();
    let (node, port) = (
        service.addr().ip().to_string(),
        service.addr().port().to_string(),
    );
    let mut bundle = enforced_bundle(
        "oci-netns",
        &agent,
        "skip",
        NetworkNamespace::Join(net.path()),
    );
    let domains = format!("files.lab.test, {node}");
    let ports = format!("80, {port}");
    bundle
        .configure(|c| {
            c.annotations = annotations(&[
                (ANNOTATION_TYPE, "HTTP"),
                (ANNOTATION_DOMAINS, &domains),
                (ANNOTATION_HTTP_PORTS, &ports),
            ]);
        })
        .unwrap();
    let serve = "enforcer-probe serve --log /serve.log --ready /serve.ready \
                 --tcp-port 8080 --bind 127.0.0.1 &\n\
                 n=0; while [ ! -s /serve.ready ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done";
    let script = [
        probe(&["tcp", "127.0.0.1", "8080"]),
        probe(&["dns", NOWHERE, "files.lab.test", "--show-source"]),
        probe(&["dns", NOWHERE, "blocked.lab.test"]),
        probe(&["tcp", &node, &port]),
    ];
    let watched = run_watched(&mut bundle, &agent, serve, &script);
    let log = &watched.log;
    let [own, allowed, refused, to_node] = &watched.results[..] else {
        panic!("four results: {log}");
    };
    assert!(
        own.ok
            && own
                .reply
                .as_deref()
                .is_some_and(|r| r.contains("127.0.0.1:8080")),
        "the container's own loopback, on a port HTTP mode does not list: {own:?}\n{log}"
    );
    let h0 = lab.host(0).to_string();
    assert_eq!(
        allowed.reply.as_deref(),
        Some(&*format!("{h0} from {NOWHERE}:53")),
        "a query aimed anywhere is answered by the task's resolver: {allowed:?}\n{log}"
    );
    assert!(
        refused.ok
            && refused
                .reply
                .as_deref()
                .is_some_and(|r| r.starts_with("Refused:")),
        "a name not listed is REFUSED: {refused:?}\n{log}"
    );
    assert_eq!(
        lab.dns_query_count("blocked.lab.test"),
        0,
        "a refused name never goes upstream"
    );
    assert!(
        to_node.is_eperm(),
        "the node's own address is refused though listed: {to_node:?}\n{log}"
    );
    assert!(!service.contacted(), "the container reached the node");
    assert_denial_logged(
        &agent,
        bundle.id(),
        "node-address",
        &service.addr().to_string(),
    );
    assert!(
        watched.while_running.is_some_and(|t| t.mode == "http"),
        "enforced HTTP"
    );
    assert!(watched.after_delete.is_none(), "released at poststop");
    assert!(
        net.probe(&["tcp", &node, &port]).ok,
        "the node's service answers the container's namespace when nothing enforces it"
    );
}
