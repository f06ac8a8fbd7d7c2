//! What a hostile task tries: raw, packet and ping sockets, children, nested cgroups,
//! leaving its cgroup, reaching the pins, and killing the enforcer.

use std::thread;

use enforcer::cgroup::cgroup2_mount;
use enforcer_tests::{
    expect::{allowed, destination, refused_at_once},
    kernel_lab_available, lab_or_skip, probe_bin, run_probe,
    task::{enforcer_run, probe_task},
    Lab,
};

const MODES: [&[&str]; 2] = [
    &["--network", "none"],
    &["--network", "http", "--domain", "192.0.2.123"],
];

#[test]
fn raw_and_packet_sockets_are_refused() {
    if !kernel_lab_available() {
        return;
    }
    for args in [&["raw", "4"][..], &["raw", "6"]] {
        assert!(run_probe(args).ok, "root outside a task can open {args:?}");
        for mode in MODES {
            refused_at_once(&probe_task(mode, args));
        }
    }
    // Packet sockets are not inet: the sandbox's seccomp filter refuses the family (and
    // without it, the missing CAP_NET_RAW would).
    assert!(
        run_probe(&["packet"]).ok,
        "root outside a task can open packet"
    );
    for mode in MODES {
        let outcome = probe_task(mode, &["packet"]);
        let result = outcome.probe();
        assert_eq!(result.errno, Some(libc::EAFNOSUPPORT), "{result:?}");
        assert!(
            outcome
                .denials
                .iter()
                .any(|d| d.reason == "socket-family" && d.protocol == "af-packet"),
            "{:#?}",
            outcome.denials
        );
    }
}

#[test]
fn ping_sockets_are_refused() {
    if !kernel_lab_available() {
        return;
    }
    // Debian forbids unprivileged ping sockets by default ("1 0"); open them to everyone
    // so that only the enforcer stands in the way.
    std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647").unwrap();
    let lab = Lab::start().unwrap();
    for addr in [lab.host(0).to_string(), lab.host6(0).to_string()] {
        assert!(
            run_probe(&["ping", &addr]).ok,
            "lab host {addr} must answer ping"
        );
        for mode in MODES {
            let outcome = probe_task(mode, &["ping", &addr]);
            refused_at_once(&outcome);
            assert!(
                outcome.denials.iter().any(|d| d.reason == "ping-socket"),
                "{:#?}",
                outcome.denials
            );
        }
    }
}

#[test]
fn children_and_grandchildren_are_enforced() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let probe = probe_bin();
    let script = format!("sh -c '{} tcp {} 80'", probe.display(), lab.host(0));
    let outcome = enforcer_run(&["--network", "none"], &["sh", "-c", &script]);
    refused_at_once(&outcome);
    assert!(outcome
        .denials
        .iter()
        .any(|d| d.comm.as_deref() == Some("enforcer-probe")));
}

#[test]
fn a_nested_cgroup_is_enforced() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let task_id = format!("nested-{}", std::process::id());
    let cgroup = cgroup2_mount().unwrap().join("enforcer").join(&task_id);
    // Inside the task the cgroup2 mount shows the task's own cgroup as its root.
    let script = format!(
        "mkdir {cg}/inner && echo $$ > {cg}/inner/cgroup.procs && grep -qx 0::/inner /proc/self/cgroup && exec {probe} tcp {host} 80",
        cg = cgroup2_mount().unwrap().display(),
        probe = probe_bin().display(),
        host = lab.host(0)
    );
    let outcome = enforcer_run(
        &["--network", "none", "--task-id", &task_id],
        &["sh", "-c", &script],
    );
    refused_at_once(&outcome);
    assert!(!cgroup.exists(), "the nested cgroup must be removed too");
}

#[test]
fn the_task_cannot_leave_its_cgroup() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let root = cgroup2_mount().unwrap();
    let task_id = format!("leave-{}", std::process::id());
    let host_path = root.join("enforcer").join(&task_id);
    // Every way up the hierarchy the task can name: the mount root, the host path of its
    // cgroup's parent, and `..`. It must still be in its own cgroup afterwards.
    let script = format!(
        "for d in {root} {root}/enforcer {root}/..; do echo $$ > $d/cgroup.procs; done 2>/dev/null; \
         grep -qx 0::/ /proc/self/cgroup && exec {probe} tcp {host} 80",
        root = root.display(),
        probe = probe_bin().display(),
        host = lab.host(0)
    );
    let outcome = enforcer_run(
        &["--network", "none", "--task-id", &task_id],
        &["sh", "-c", &script],
    );
    refused_at_once(&outcome);
    assert!(outcome.denials.iter().any(|d| d.reason == "network-none"));
    assert!(!host_path.exists());
}

#[test]
fn the_task_has_no_capabilities_and_cannot_see_the_pins() {
    if !kernel_lab_available() {
        return;
    }
    let outcome = enforcer_run(
        &["--network", "none"],
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; \
             echo '|/tmp/x' > /proc/sys/kernel/core_pattern || echo sysctl-read-only; \
             ls /sys/fs/bpf/enforcer",
        ],
    );
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert!(
            outcome
                .stdout
                .contains(&format!("{set}:\t0000000000000000")),
            "{}",
            outcome.stdout
        );
    }
    assert!(
        outcome.stdout.contains("sysctl-read-only"),
        "{}",
        outcome.stdout
    );
    assert_ne!(
        outcome.exit_code,
        Some(0),
        "bpffs must be hidden: {}",
        outcome.stdout
    );
}

#[test]
fn an_allowed_flow_in_one_mode_is_refused_in_another_at_the_same_time() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let host = lab.host(0).to_string();
    let script = format!("sleep 0.5; exec {} tcp {} 80", probe_bin().display(), host);
    let (none, full) = thread::scope(|s| {
        let none = s.spawn(|| enforcer_run(&["--network", "none"], &["sh", "-c", &script]));
        let full = s.spawn(|| enforcer_run(&["--network", "full"], &["sh", "-c", &script]));
        (none.join().unwrap(), full.join().unwrap())
    });
    refused_at_once(&none);
    none.assert_denied(&destination(lab.host(0).into(), 80), "network-none");
    allowed(&full);
}

#[test]
fn sockets_made_outside_the_task_are_not_handed_to_it() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    use std::os::fd::{AsRawFd, OwnedFd};
    // A connection the caller opened would never be judged by the task's hooks.
    let outside = std::net::TcpStream::connect((lab.host(0), 80)).unwrap();
    let socket_fd = outside.as_raw_fd();
    // On stdout: refused before anything starts.
    let on_stdout = std::process::Command::new(enforcer_tests::enforcer_bin())
        .args(["run", "--network", "none", "--", "sh", "-c", "echo leaked"])
        .stdout(OwnedFd::from(outside.try_clone().unwrap()))
        .output()
        .unwrap();
    assert_eq!(
        on_stdout.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&on_stdout.stderr)
    );
    // On a higher descriptor: closed before the task's first instruction.
    let mut command = std::process::Command::new(enforcer_tests::enforcer_bin());
    command.args([
        "run",
        "--network",
        "none",
        "--",
        "sh",
        "-c",
        "ls -l /proc/self/fd/7",
    ]);
    // SAFETY: dup2 in the child only; clears close-on-exec on the copy.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(move || {
            if libc::dup2(socket_fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let on_fd7 = command.output().unwrap();
    assert_ne!(
        on_fd7.status.code(),
        Some(0),
        "fd 7 reached the task: {}",
        String::from_utf8_lossy(&on_fd7.stdout)
    );
}
