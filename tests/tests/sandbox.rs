//! The task's sandbox beyond the kernel programs: socket families and io_uring refused by
//! seccomp, the host's unix sockets out of reach, kernel settings read-only even for uid 0,
//! a PID namespace of its own, and an init that passes the task's exit status on.
//!
//! Every channel is first shown to work outside a task (or in a Full task), so that no test
//! passes because the channel was not there to begin with.

use std::{
    io::ErrorKind,
    os::{
        linux::net::SocketAddrExt,
        unix::{
            fs::PermissionsExt,
            net::{SocketAddr, UnixListener},
        },
    },
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use enforcer::{cgroup::cgroup2_mount, enforcement::TaskPolicy, paths};
use enforcer_common::Mode;
use enforcer_tests::{
    enforcer_bin,
    expect::{allowed, both_families, tcp_hits},
    kernel_lab_available, lab_or_skip, probe_bin, run_probe,
    scoped::ScopedEnforcement,
    task::{enforcer_run, probe_task, TaskOutcome},
    ProbeResult,
};

const NONE: &[&str] = &["--network", "none"];
const HTTP: &[&str] = &["--network", "http", "--domain", "192.0.2.123"];
const FULL: &[&str] = &["--network", "full"];
/// The modes whose tasks get the network sandbox (seccomp filter, Landlock, hidden /run).
const RESTRICTED: [&[&str]; 2] = [NONE, HTTP];

const AF_VSOCK_STREAM: &[&str] = &["socket", "40", "1"];
const NETLINK_ROUTE: &[&str] = &["socket", "16", "3", "0"];
const NETLINK_KOBJECT_UEVENT: &[&str] = &["socket", "16", "2", "15"];

/// The probe failed with `errno` (at once, not a timeout), so the task exited 1.
fn failed_with(outcome: &TaskOutcome, errno: i32) {
    let result = outcome.probe();
    assert!(
        !result.ok && result.errno == Some(errno),
        "expected errno {errno}, got {result:?}\nstderr:\n{}",
        outcome.stderr
    );
    assert_eq!(outcome.exit_code, Some(1), "{}", outcome.stderr);
}

/// The task's init reported a seccomp refusal of this reason and protocol.
fn assert_seccomp_denial(outcome: &TaskOutcome, reason: &str, protocol: &str) {
    assert!(
        outcome.denials.iter().any(|d| d.hook == "seccomp"
            && d.reason == reason
            && d.protocol == protocol
            && d.destination == "-"
            && d.comm.as_deref() == Some("enforcer-probe")),
        "no seccomp denial {reason}/{protocol}; denials: {:#?}\nstderr:\n{}",
        outcome.denials,
        outcome.stderr
    );
}

#[test]
fn vsock_sockets_are_refused_also_with_garbage_in_the_upper_bits() {
    if !kernel_lab_available() {
        return;
    }
    let high_bits = [AF_VSOCK_STREAM, &["0", "--high-bits"]].concat();
    for args in [AF_VSOCK_STREAM, &high_bits] {
        assert!(run_probe(args).ok, "root outside a task can make {args:?}");
        allowed(&probe_task(FULL, args));
        for mode in RESTRICTED {
            let outcome = probe_task(mode, args);
            failed_with(&outcome, libc::EAFNOSUPPORT);
            assert_seccomp_denial(&outcome, "socket-family", "af-vsock");
        }
    }
}

#[test]
fn routing_netlink_is_the_only_netlink_allowed() {
    if !kernel_lab_available() {
        return;
    }
    assert!(run_probe(NETLINK_KOBJECT_UEVENT).ok);
    allowed(&probe_task(FULL, NETLINK_KOBJECT_UEVENT));
    for mode in RESTRICTED {
        allowed(&probe_task(mode, NETLINK_ROUTE));
        let outcome = probe_task(mode, NETLINK_KOBJECT_UEVENT);
        failed_with(&outcome, libc::EAFNOSUPPORT);
        assert_seccomp_denial(&outcome, "socket-family", "netlink-15");
    }
}

#[test]
fn io_uring_setup_is_refused() {
    if !kernel_lab_available() {
        return;
    }
    assert!(run_probe(&["io-uring-setup"]).ok);
    allowed(&probe_task(FULL, &["io-uring-setup"]));
    for mode in RESTRICTED {
        let outcome = probe_task(mode, &["io-uring-setup"]);
        failed_with(&outcome, libc::EPERM);
        assert_seccomp_denial(&outcome, "io-uring", "io_uring");
    }
}

#[test]
fn an_io_uring_connect_is_judged_by_the_socket_hooks() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    // Without the seccomp filter (direct confinement), only the cgroup hooks stand in the way.
    let scope =
        ScopedEnforcement::attach("uring", &TaskPolicy::without_allowlist(Mode::None)).unwrap();
    for addr in both_families(&lab, 0) {
        let a = addr.to_string();
        let outside = run_probe(&["io-uring-connect", &a, "80"]);
        assert!(outside.ok, "io_uring connect to {a} outside: {outside:?}");
        let hits = tcp_hits(&lab, addr, 80);
        let output = scope
            .confined(&probe_bin())
            .unwrap()
            .args(["io-uring-connect", &a, "80"])
            .output()
            .unwrap();
        let result = ProbeResult::from_stdout(&output.stdout).unwrap();
        // Refused at the connect itself, not at setting up the ring.
        assert!(
            result.is_eperm()
                && result
                    .error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("io_uring connect:")),
            "io_uring connect to {a}: {result:?}"
        );
        assert_eq!(
            tcp_hits(&lab, addr, 80),
            hits,
            "the lab must receive nothing"
        );
    }
}

/// A unix stream socket of the host's (a daemon's, as far as a task can tell), listening in
/// the test process. A path of its own is removed on drop.
struct HostListener {
    listener: UnixListener,
    path: Option<PathBuf>,
}

impl HostListener {
    fn abstract_name(name: &str) -> HostListener {
        let addr = SocketAddr::from_abstract_name(name).unwrap();
        HostListener::new(UnixListener::bind_addr(&addr).unwrap(), None)
    }

    /// At `path`, connectable by any user (the task may not run as root).
    fn at(path: &Path) -> HostListener {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let guard = HostListener::new(listener, Some(path.to_path_buf()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
        guard
    }

    fn new(listener: UnixListener, path: Option<PathBuf>) -> HostListener {
        listener.set_nonblocking(true).unwrap();
        HostListener { listener, path }
    }

    /// Connections made since the last call: the kernel queues each one until accepted.
    fn take_connections(&self) -> usize {
        let mut count = 0;
        loop {
            match self.listener.accept() {
                Ok(_) => count += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return count,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    /// Shows that `target` (this listener's address as `unix-connect` takes it) can be
    /// reached from outside a task and from a Full task.
    fn assert_reachable(&self, target: &str) {
        let outside = run_probe(&["unix-connect", target]);
        assert!(outside.ok, "{target} outside a task: {outside:?}");
        allowed(&probe_task(FULL, &["unix-connect", target]));
        assert_eq!(self.take_connections(), 2, "{target}");
    }

    /// `target` can't be reached from None and HTTP tasks: connect fails with `errno`.
    fn assert_out_of_reach(&self, target: &str, errno: i32) {
        for mode in RESTRICTED {
            failed_with(&probe_task(mode, &["unix-connect", target]), errno);
            assert_eq!(self.take_connections(), 0, "{target} reached from {mode:?}");
        }
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[test]
fn the_hosts_abstract_unix_sockets_are_out_of_reach() {
    if !kernel_lab_available() {
        return;
    }
    let name = format!("enforcer-test-{}", std::process::id());
    let listener = HostListener::abstract_name(&name);
    let target = format!("@{name}");
    listener.assert_reachable(&target);
    // Landlock's abstract unix socket scope.
    listener.assert_out_of_reach(&target, libc::EPERM);
}

#[test]
fn daemon_sockets_under_run_are_hidden() {
    if !kernel_lab_available() {
        return;
    }
    let path = PathBuf::from(format!("/run/enforcer-test-{}.sock", std::process::id()));
    let listener = HostListener::at(&path);
    let target = path.to_str().unwrap();
    listener.assert_reachable(target);
    listener.assert_out_of_reach(target, libc::ENOENT);
}

#[test]
fn run_is_an_empty_read_only_tmpfs_but_the_resolver_stays_readable() {
    if !kernel_lab_available() {
        return;
    }
    // All the task may see of /run: the way to the node's resolv.conf, if it lives there.
    let resolv_conf = std::fs::canonicalize("/etc/resolv.conf").unwrap();
    let expected: Vec<String> = resolv_conf
        .strip_prefix("/run")
        .ok()
        .and_then(|below| below.iter().next())
        .map(|first| first.to_string_lossy().into_owned())
        .into_iter()
        .collect();
    let on_host = std::fs::read_dir("/run").unwrap().count();
    assert!(on_host > expected.len(), "the host's /run has more");
    let script = "cat /etc/resolv.conf > /dev/null && echo resolv-readable; \
                  touch /run/enforcer-test 2>&1; echo in-run $(ls -A /run)";
    for mode in RESTRICTED {
        let outcome = enforcer_run(mode, &["sh", "-c", script]);
        assert_eq!(outcome.exit_code, Some(0), "{}", outcome.stderr);
        let stdout = &outcome.stdout;
        assert!(stdout.contains("resolv-readable"), "{mode:?}: {stdout}");
        assert!(
            stdout.contains("Read-only file system"),
            "{mode:?}: {stdout}"
        );
        let in_run: Vec<&str> = stdout
            .lines()
            .find_map(|line| line.strip_prefix("in-run"))
            .unwrap_or_else(|| panic!("{mode:?}: {stdout}"))
            .split_whitespace()
            .collect();
        assert_eq!(in_run, expected, "{mode:?}: what the task sees in /run");
    }
}

/// What the node's resolver file says in [`with_resolv_conf_under_run`].
const RESOLVER_LINE: &str = "nameserver 192.0.2.53";

/// Runs `enforcer run MODE -- sh -c SCRIPT` as root's task in a private mount namespace
/// where /run is a fresh tmpfs and /etc/resolv.conf a link to /run/resolve/resolv.conf, as
/// on a node with systemd-resolved. Nothing of it outlives the namespace.
fn with_resolv_conf_under_run(mode: &[&str], script: &str) -> Output {
    let setup = format!(
        "set -e; mount -t tmpfs tmpfs /run; mkdir -p /run/resolve /run/etc/upper /run/etc/work; \
         echo '{RESOLVER_LINE}' > /run/resolve/resolv.conf; \
         ln -s /run/resolve/resolv.conf /run/etc/upper/resolv.conf; \
         mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/etc/upper,workdir=/run/etc/work /etc; \
         exec \"$@\""
    );
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &setup,
            "sh",
        ])
        .arg(enforcer_bin())
        .arg("run")
        .args(mode)
        .args(["--", "sh", "-c", script])
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .output()
        .unwrap()
}

#[test]
fn a_resolv_conf_under_run_is_bound_back_read_only() {
    if !kernel_lab_available() {
        return;
    }
    let script =
        "cat /etc/resolv.conf; echo in-run $(ls -A /run); (: >> /etc/resolv.conf) 2>&1 || true";
    for mode in RESTRICTED {
        let output = with_resolv_conf_under_run(mode, script);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{mode:?}: {stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(RESOLVER_LINE), "{mode:?}: {stdout}");
        assert!(stdout.contains("in-run resolve\n"), "{mode:?}: {stdout}");
        assert!(
            stdout.contains("Read-only file system"),
            "{mode:?}: {stdout}"
        );
    }
}

/// Where the kernel's binfmt_misc is mounted on a systemd host.
const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// binfmt_misc mounted for the test if the host has not mounted it; unmounted on drop.
struct BinfmtMisc {
    mounted_here: bool,
}

impl BinfmtMisc {
    fn ensure_mounted() -> BinfmtMisc {
        if Path::new(BINFMT_MISC).join("register").exists() {
            return BinfmtMisc {
                mounted_here: false,
            };
        }
        let status = Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_MISC])
            .status()
            .unwrap();
        assert!(status.success(), "mounting binfmt_misc: {status}");
        BinfmtMisc { mounted_here: true }
    }
}

impl Drop for BinfmtMisc {
    fn drop(&mut self) {
        if self.mounted_here {
            let _ = Command::new("umount").arg(BINFMT_MISC).status();
        }
    }
}

/// Files through which uid 0 changes the node with no capability at all (registering an
/// interpreter, a core dump handler, sysrq, tracing, lockdown), those the host has.
fn kernel_settings() -> Vec<&'static str> {
    [
        "/proc/sys/fs/binfmt_misc/register",
        "/proc/sys/kernel/core_pattern",
        "/proc/sysrq-trigger",
        "/sys/kernel/tracing/trace_marker",
        "/sys/kernel/debug/tracing/trace_marker",
        "/sys/kernel/security/lockdown",
        "/sys/kernel/rcu_expedited",
    ]
    .into_iter()
    .filter(|file| Path::new(file).exists())
    .collect()
}

/// Opens each file for writing and appends nothing (`: >>`), so nothing changes even where
/// the open succeeds; prints `uid=N`, then `writable FILE` for each file that opened.
fn open_for_writing(files: &[&str]) -> String {
    let attempts: String = files
        .iter()
        .map(|file| format!("(: >> {file}) 2>/dev/null && echo writable {file}; "))
        .collect();
    format!("echo uid=$(id -u); {attempts}true")
}

/// What `open_for_writing` printed for the files that opened.
fn writable(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("writable "))
        .map(str::to_string)
        .collect()
}

/// Runs `sh -c script` as root's task: no `--user` and no sudo caller, so uid 0 (with no
/// capabilities).
fn root_task(mode: &[&str], script: &str) -> Output {
    Command::new(enforcer_bin())
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .arg("run")
        .args(mode)
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap()
}

#[test]
fn kernel_settings_are_read_only_for_a_root_task_in_every_mode() {
    if !kernel_lab_available() {
        return;
    }
    let _binfmt_misc = BinfmtMisc::ensure_mounted();
    let files = kernel_settings();
    let script = open_for_writing(&files);
    let outside = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(writable(&outside.stdout), files, "root outside a task");
    for mode in [NONE, HTTP, FULL] {
        let task = root_task(mode, &script);
        assert_eq!(
            task.status.code(),
            Some(0),
            "{mode:?}: {}",
            String::from_utf8_lossy(&task.stderr)
        );
        assert!(
            String::from_utf8_lossy(&task.stdout).starts_with("uid=0\n"),
            "{mode:?}: the task must run as root"
        );
        assert_eq!(writable(&task.stdout), Vec::<String>::new(), "{mode:?}");
    }
}

/// `enforcer run` running in the background until dropped: SIGTERM to the enforcer, which
/// passes it on to the task, then wait.
struct BackgroundTask {
    enforcer: Child,
    cgroup: PathBuf,
}

impl BackgroundTask {
    fn start(flags: &[&str], task_id: &str, task: &[&str]) -> BackgroundTask {
        let enforcer = Command::new(enforcer_bin())
            .arg("run")
            .args(flags)
            .args(["--task-id", task_id, "--"])
            .args(task)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        BackgroundTask {
            enforcer,
            cgroup: cgroup2_mount().unwrap().join("enforcer").join(task_id),
        }
    }

    /// The host pid of the task's process named `comm`, once it runs.
    fn host_pid_of(&self, comm: &str) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let procs =
                std::fs::read_to_string(self.cgroup.join("cgroup.procs")).unwrap_or_default();
            let found = procs
                .lines()
                .filter_map(|pid| pid.parse().ok())
                .find(|pid: &u32| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim_end() == comm)
                });
            if let Some(pid) = found {
                return pid;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("no {comm} in {} after 10 s", self.cgroup.display());
    }
}

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(self.enforcer.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.enforcer.wait();
    }
}

const NOBODY: &str = "65534:65534";

/// The probe run outside any task as uid and gid 65534.
fn probe_as_nobody(args: &[&str]) -> ProbeResult {
    let output = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(probe_bin())
        .args(args)
        .output()
        .unwrap();
    ProbeResult::from_stdout(&output.stdout).unwrap()
}

#[test]
fn a_task_cannot_see_or_signal_another_task_of_its_user() {
    if !kernel_lab_available() {
        return;
    }
    let task_id = format!("pidns-{}", std::process::id());
    let full = BackgroundTask::start(
        &["--network", "full", "--user", NOBODY],
        &task_id,
        &["sleep", "30"],
    );
    let pid = full.host_pid_of("sleep").to_string();
    let outside = probe_as_nobody(&["pidfd-signal", &pid]);
    assert!(
        outside.ok,
        "uid 65534 outside a task signals {pid}: {outside:?}"
    );
    let script = format!(
        "echo pids $(ls /proc | grep -E '^[0-9]+$'); echo init $(tr '\\0' ' ' < /proc/1/cmdline); \
         [ -e /proc/{pid} ] && echo sees; kill -0 {pid} 2>/dev/null && echo signals; \
         exec {probe} pidfd-signal {pid}",
        probe = probe_bin().display()
    );
    let outcome = enforcer_run(
        &["--network", "none", "--user", NOBODY],
        &["sh", "-c", &script],
    );
    failed_with(&outcome, libc::ESRCH);
    assert!(
        !outcome
            .stdout
            .lines()
            .any(|line| line == "sees" || line == "signals"),
        "{}",
        outcome.stdout
    );
    let pids: Vec<u32> = outcome
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("pids "))
        .unwrap_or_else(|| panic!("no pids in {}", outcome.stdout))
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert!(
        pids.contains(&1) && pids.iter().all(|pid| *pid < 10),
        "the task must see only its own few processes: {pids:?}"
    );
    assert!(
        outcome.stdout.contains("init enforcer-init task-init "),
        "pid 1 must be the task's init: {}",
        outcome.stdout
    );
    drop(full);
}

#[test]
fn the_tasks_exit_status_passes_through_its_init() {
    if !kernel_lab_available() {
        return;
    }
    for mode in [NONE, FULL] {
        for (script, status) in [("exit 7", 7), ("kill -TERM $$", 128 + libc::SIGTERM)] {
            let outcome = enforcer_run(mode, &["sh", "-c", script]);
            assert_eq!(
                outcome.exit_code,
                Some(status),
                "{mode:?} {script}: {}",
                outcome.stderr
            );
        }
    }
    let task_id = format!("notfound-{}", std::process::id());
    let outcome = enforcer_run(
        &["--network", "none", "--task-id", &task_id],
        &["/nonexistent"],
    );
    assert_eq!(outcome.exit_code, Some(127), "{}", outcome.stderr);
    assert!(!paths::pin_dir(&task_id).exists(), "pins left behind");
    let cgroup = cgroup2_mount().unwrap().join("enforcer").join(&task_id);
    assert!(!cgroup.exists(), "{} left behind", cgroup.display());
}
