//! Multicast membership, a covert channel out of a None task: joining a group makes the
//! kernel announce it on the link (IGMP, MLD) from its own timers, which no egress hook
//! judges. Outside Full the join is refused. Also here, the enforcer's own side of a
//! refusal: kernel log lines cost nothing unless shown, and a flood of refusals stays a
//! bounded log.

use std::{
    ffi::CString,
    io::Read,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{FromRawFd, OwnedFd},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use aya::programs::{
    links::{FdLink, PinnedLink},
    loaded_programs,
};
use enforcer::paths;
use enforcer_tests::{
    enforcer_bin,
    expect::{allowed, refused_at_once},
    kernel_lab_available, lab_or_skip, probe_bin,
    task::{probe_task, TaskOutcome},
    Lab,
};
use serde_json::Value;
use socket2::Socket;

/// How long a refused join is watched for a report that must not come (the kernel sends
/// its first report within milliseconds of a join).
const QUIET_PERIOD: Duration = Duration::from_millis(1500);
/// How long an allowed join may take to show on the link.
const REPORT_DEADLINE: Duration = Duration::from_secs(3);

/// IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP, then MCAST_JOIN_GROUP.
const JOIN_APIS: [&[&str]; 2] = [&[], &["--mcast-api"]];

#[test]
fn a_full_task_joins_and_the_group_is_announced_on_the_link() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    for group in groups(&lab, 1) {
        let sniffer = Sniffer::open(&lab);
        let outcome = join_as_task(&["--network", "full"], &lab, group, &[]);
        allowed(&outcome);
        assert!(
            sniffer.sees_report(group, REPORT_DEADLINE),
            "no membership report for {group} on the link: the channel the other tests \
             close is not there to close"
        );
    }
}

#[test]
fn none_and_http_tasks_may_not_join_a_group() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    let http = [
        "--network",
        "http",
        "--domain",
        "192.0.2.123",
        "--upstream",
        &dns,
    ];
    let modes: [&[&str]; 2] = [&["--network", "none"], &http];
    let mut n = 10;
    for mode in modes {
        for api in JOIN_APIS {
            for group in groups(&lab, n) {
                n += 1;
                let sniffer = Sniffer::open(&lab);
                let outcome = join_as_task(mode, &lab, group, api);
                refused_at_once(&outcome);
                assert_membership_denial(&outcome);
                assert!(
                    !sniffer.sees_report(group, QUIET_PERIOD),
                    "{mode:?} {api:?}: a report for {group} left the node"
                );
            }
        }
    }
}

#[test]
fn kernel_log_lines_are_formatted_only_when_shown() {
    if !kernel_lab_available() {
        return;
    }
    // Logging off, the verifier drops the formatting code: fewer instructions to check.
    let quiet = connect4_instructions(None);
    let debug = connect4_instructions(Some("enforcer_ebpf=debug"));
    assert!(
        quiet < debug,
        "connect4 verified {quiet} instructions without debug logging, {debug} with it"
    );
    let refused_connect = |rust_log| {
        let output = enforcer_command(rust_log)
            .args(["--network", "none", "--"])
            .arg(probe_bin())
            .args(["tcp", "192.0.2.1", "80"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let shown = refused_connect(Some("info,enforcer_ebpf=debug"));
    assert!(
        shown
            .lines()
            .any(|l| l.contains("enforcer_ebpf") && l.contains("refused")),
        "no kernel log line with debug on:\n{shown}"
    );
    assert!(!refused_connect(None).contains("enforcer_ebpf"));
}

#[test]
fn a_flood_of_refusals_is_logged_at_a_bounded_rate() {
    if !kernel_lab_available() {
        return;
    }
    const FLOOD: u64 = 20_000;
    let started = Instant::now();
    let count = FLOOD.to_string();
    let outcome = probe_task(
        &["--network", "none"],
        &["connect-flood", "192.0.2.1", "80", "--count", &count],
    );
    let took = started.elapsed();
    allowed(&outcome);
    assert!(took < Duration::from_secs(20), "enforcer run took {took:?}");
    let lines = json_lines(&outcome.stderr);
    let logged = outcome.denials.len() as u64;
    // A burst of 100 lines, then 100 per second.
    let most = 100 + 100 * took.as_secs().max(1) + 10;
    assert!(logged <= most, "{logged} denial lines in {took:?}");
    let suppressed = lines
        .iter()
        .filter(|l| l["message"] == "denials not logged")
        .filter_map(|l| l["suppressed_total"].as_u64())
        .max()
        .expect("a line saying how many denials were not logged");
    let summary = lines
        .iter()
        .find(|l| l["message"] == "task finished")
        .expect("the task's counters");
    assert_eq!(summary["connect_denied"].as_u64(), Some(FLOOD), "{summary}");
    // Every refusal is accounted for: logged, suppressed here, or dropped by the kernel.
    let dropped = summary["events_lost"].as_u64().expect("events_lost");
    assert_eq!(logged + suppressed + dropped, FLOOD, "{summary}");
}

/// A v4 and a v6 group, numbered `n` within this lab.
fn groups(lab: &Lab, n: u8) -> [IpAddr; 2] {
    let i = lab.index();
    [
        IpAddr::V4(Ipv4Addr::new(239, 213, i, n)),
        IpAddr::V6(Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0x213, i.into(), n.into())),
    ]
}

/// The host side of the lab's veth pair (`enf<i>h`): a task in the host's network
/// namespace joins there, and the reports cross there.
fn host_link(lab: &Lab) -> String {
    format!("enf{}h", lab.index())
}

fn ifindex(name: &str) -> u32 {
    let name = CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(index, 0, "no interface {name:?}");
    index
}

/// `enforcer-probe mcast-join` of `group` on the lab's host link, as a task with `flags`.
fn join_as_task(flags: &[&str], lab: &Lab, group: IpAddr, api: &[&str]) -> TaskOutcome {
    let (group, ifindex) = (group.to_string(), ifindex(&host_link(lab)).to_string());
    let mut args = vec!["mcast-join", &group, &ifindex];
    args.extend_from_slice(api);
    probe_task(flags, &args)
}

fn assert_membership_denial(outcome: &TaskOutcome) {
    assert!(
        outcome.denials.iter().any(|d| d.hook == "setsockopt"
            && d.reason == "multicast-membership"
            && d.destination == "-"
            && d.protocol == "udp"
            && d.comm.as_deref() == Some("enforcer-probe")),
        "no multicast-membership denial: {:#?}\nstderr:\n{}",
        outcome.denials,
        outcome.stderr
    );
    assert_eq!(
        outcome.counter("sockopt_denied"),
        Some(1),
        "{}",
        outcome.stderr
    );
}

/// Every frame crossing one interface, seen from an AF_PACKET socket of this process.
struct Sniffer(Socket);

impl Sniffer {
    /// Captures from now on, on the lab's host link.
    fn open(lab: &Lab) -> Sniffer {
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(all)) };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor nobody else owns.
        let socket = Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // SAFETY: all-zero is a valid sockaddr_ll; the fields that matter are set below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = all;
        addr.sll_ifindex = ifindex(&host_link(lab)) as i32;
        // SAFETY: bind(2) with a sockaddr_ll of its true size.
        let rc = unsafe {
            libc::bind(
                fd,
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        Sniffer(socket)
    }

    /// Whether a membership report naming `group` crosses the link before `within` is over
    /// (frames captured since `open` included).
    fn sees_report(&self, group: IpAddr, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut frame = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.0.set_read_timeout(Some(left)).unwrap();
            match (&self.0).read(&mut frame) {
                Ok(n) if is_report_for(&frame[..n], group) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) => panic!("reading the link: {e}"),
            }
        }
    }
}

/// An Ethernet frame carrying an IGMP report (v2 join or leave, v3) or an MLD report (v1
/// report or done, v2) whose body names `group`.
fn is_report_for(frame: &[u8], group: IpAddr) -> bool {
    let Some(ip) = frame.get(14..) else {
        return false;
    };
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let message = match (ethertype, group) {
        (0x0800, IpAddr::V4(_)) => igmp_report(ip),
        (0x86dd, IpAddr::V6(_)) => mld_report(ip),
        _ => None,
    };
    let octets = match group {
        IpAddr::V4(g) => g.octets().to_vec(),
        IpAddr::V6(g) => g.octets().to_vec(),
    };
    message.is_some_and(|m| m.windows(octets.len()).any(|w| w == octets))
}

fn igmp_report(ip: &[u8]) -> Option<&[u8]> {
    let header_len = usize::from(ip.first()? & 0x0f) * 4;
    let igmp = ip.get(header_len..)?;
    (*ip.get(9)? == 2 && matches!(igmp.first()?, 0x16 | 0x17 | 0x22)).then_some(igmp)
}

fn mld_report(ip: &[u8]) -> Option<&[u8]> {
    // MLD comes after a hop-by-hop header (router alert).
    let (mut next, mut rest) = (*ip.get(6)?, ip.get(40..)?);
    if next == 0 {
        next = *rest.first()?;
        rest = rest.get((usize::from(*rest.get(1)?) + 1) * 8..)?;
    }
    (next == 58 && matches!(rest.first()?, 131 | 132 | 143)).then_some(rest)
}

/// `enforcer --log-format json run`, with RUST_LOG set to `rust_log` or unset.
fn enforcer_command(rust_log: Option<&str>) -> Command {
    let mut command = Command::new(enforcer_bin());
    command.args(["--log-format", "json", "run"]);
    match rust_log {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    command
}

/// Instructions the verifier checked in connect4 of a task started with `rust_log`.
fn connect4_instructions(rust_log: Option<&str>) -> u32 {
    let task_id = format!("mcast-log-{}", std::process::id());
    // The task (`cat`) runs until its stdin closes.
    let mut enforcer = enforcer_command(rust_log)
        .args(["--task-id", &task_id, "--network", "none", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pin = paths::pin_dir(&task_id).join("connect4");
    let link = wait_for(&pin, Duration::from_secs(10)).then(|| PinnedLink::from_pin(&pin));
    drop(enforcer.stdin.take());
    let program_id = FdLink::from(link.expect("connect4 pinned").unwrap())
        .info()
        .unwrap()
        .program_id();
    let instructions = loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == program_id)
        .and_then(|p| p.verified_instruction_count())
        .expect("connect4's verifier statistics");
    assert!(enforcer.wait().unwrap().success());
    instructions
}

fn wait_for(path: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !path.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
