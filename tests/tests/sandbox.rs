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
    expect::{allowed, both_families, tcp_hits, udp_hits},
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
fn io_uring_connect_and_sendmsg_are_judged_by_the_socket_hooks() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    // Without the seccomp filter (direct confinement), only the cgroup hooks stand in the way.
    let scope =
        ScopedEnforcement::attach("uring", &TaskPolicy::without_allowlist(Mode::None)).unwrap();
    let in_task = |args: &[&str]| {
        let output = scope
            .confined(&probe_bin())
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        ProbeResult::from_stdout(&output.stdout).unwrap()
    };
    // Refused at the operation itself, not at setting up the ring.
    let refused_by_the_ring = |result: &ProbeResult, op: &str| {
        result.is_eperm()
            && result
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with(&format!("io_uring {op}:")))
    };
    for addr in both_families(&lab, 0) {
        let a = addr.to_string();
        let connect = ["io-uring-connect", a.as_str(), "80"];
        let outside = run_probe(&connect);
        assert!(outside.ok, "io_uring connect to {a} outside: {outside:?}");
        let hits = tcp_hits(&lab, addr, 80);
        let result = in_task(&connect);
        assert!(
            refused_by_the_ring(&result, "connect"),
            "io_uring connect to {a}: {result:?}"
        );
        assert_eq!(
            tcp_hits(&lab, addr, 80),
            hits,
            "the lab must receive nothing"
        );

        let send = ["io-uring-sendmsg", a.as_str(), "9000"];
        let outside = run_probe(&send);
        assert!(outside.ok, "io_uring sendmsg to {a} outside: {outside:?}");
        let datagrams = udp_hits(&lab, 9000);
        let result = in_task(&send);
        assert!(
            refused_by_the_ring(&result, "sendmsg"),
            "io_uring sendmsg to {a}: {result:?}"
        );
        assert_eq!(
            udp_hits(&lab, 9000),
            datagrams,
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

/// Root outside a task can open every one of `files` for writing; a root task, in every
/// mode, none of them.
fn only_root_outside_can_open(files: &[&str]) {
    let script = open_for_writing(files);
    let outside = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(writable(&outside.stdout), files, "root outside a task");
    for mode in EVERY_MODE {
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

#[test]
fn kernel_settings_are_read_only_for_a_root_task_in_every_mode() {
    if !kernel_lab_available() {
        return;
    }
    let _binfmt_misc = BinfmtMisc::ensure_mounted();
    let files = kernel_settings();
    only_root_outside_can_open(&files);
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

// ---------------------------------------------------------------------------------------
// Session, terminal, keyring, IPC, /proc, user namespaces, stdio sockets, DNS without names.

use std::{
    io::Read,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::{net::UnixStream, process::CommandExt},
    },
    process::ExitStatus,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

/// Every mode, for what the sandbox does whatever the network.
const EVERY_MODE: [&[&str]; 3] = [NONE, HTTP, FULL];
/// Longer than any task here takes: past it `enforcer run` is hung.
const TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// `flags` followed by `--user 65534:65534`, or (`as_root`) nothing more: the test runs
/// commands with SUDO_UID and SUDO_GID removed, so the task is then root's.
fn as_user(flags: &[&str], as_root: bool) -> Vec<String> {
    let mut all: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    if !as_root {
        all.extend(["--user".to_string(), NOBODY.to_string()]);
    }
    all
}

/// `enforcer --log-format json run FLAGS -- TASK...` with no sudo caller in the environment
/// (the task is root's unless FLAGS say `--user`).
fn enforcer_command(flags: &[String], task: &[&str]) -> Command {
    let mut command = Command::new(enforcer_bin());
    command
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .args(["--log-format", "json", "run"])
        .args(flags)
        .arg("--")
        .args(task);
    command
}

/// Waits for `child`, killing it (and panicking) once [`TASK_TIMEOUT`] has passed.
fn wait_in_time(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + TASK_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {TASK_TIMEOUT:?}; killed");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `command` to completion with stdin /dev/null and stdout and stderr captured,
/// killing it once [`TASK_TIMEOUT`] has passed.
fn output_in_time(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = wait_in_time(&mut child, &format!("{command:?}"));
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The probe result printed after `prefix ` on a line of `text`.
fn prefixed_result(text: &str, prefix: &str) -> ProbeResult {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix(prefix)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"));
    ProbeResult::from_stdout(line.as_bytes()).unwrap_or_else(|e| panic!("{prefix}: {e:#}"))
}

/// Whether the probe failed with one of `errnos`.
fn failed_with_one_of(result: &ProbeResult, errnos: &[i32]) -> bool {
    !result.ok && result.errno.is_some_and(|e| errnos.contains(&e))
}

/// A pseudo-terminal pair in raw mode: what is written to the slave comes out of the master
/// unchanged, and input pushed into it (TIOCSTI) is at once readable from the slave, where
/// the operator's shell would read it as typed.
struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

impl Pty {
    fn open() -> Pty {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty fills two descriptors that we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both were just opened and are owned by nothing else.
        let pty = unsafe {
            Pty {
                master: OwnedFd::from_raw_fd(master),
                slave: OwnedFd::from_raw_fd(slave),
            }
        };
        // SAFETY: termios calls on our own descriptor.
        unsafe {
            let mut termios: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(pty.slave.as_raw_fd(), &mut termios), 0);
            libc::cfmakeraw(&mut termios);
            assert_eq!(
                libc::tcsetattr(pty.slave.as_raw_fd(), libc::TCSANOW, &termios),
                0
            );
        }
        pty
    }

    /// Runs `command` as a program started in the operator's terminal: in a session of its
    /// own whose controlling terminal is this one, with the slave as stdin, stdout and
    /// stderr. Returns its status and everything it wrote.
    fn run(&self, command: &mut Command) -> (ExitStatus, String) {
        let stdio = || Stdio::from(self.slave.try_clone().unwrap());
        command.stdin(stdio()).stdout(stdio()).stderr(stdio());
        // SAFETY: setsid and ioctl only, in the child before exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        // Read the master while the command runs, so it never blocks on a full terminal.
        let master = self.master.try_clone().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let done = Arc::clone(&done);
            // Gives up on its own should the wait below panic.
            let deadline = Instant::now() + TASK_TIMEOUT + Duration::from_secs(5);
            thread::spawn(move || {
                let mut output = Vec::new();
                while Instant::now() < deadline {
                    let mut poll = libc::pollfd {
                        fd: master.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: poll on one descriptor we own.
                    let ready = unsafe { libc::poll(&mut poll, 1, 100) };
                    if ready > 0 {
                        let mut buf = [0u8; 4096];
                        // SAFETY: read into our buffer.
                        let n = unsafe {
                            libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                        };
                        if n <= 0 {
                            break;
                        }
                        output.extend_from_slice(&buf[..n as usize]);
                    } else if done.load(Ordering::SeqCst) {
                        break;
                    }
                }
                output
            })
        };
        let status = wait_in_time(&mut child, &format!("{command:?}"));
        done.store(true, Ordering::SeqCst);
        let output = reader.join().unwrap();
        (status, String::from_utf8_lossy(&output).into_owned())
    }

    /// Input pushed into the terminal that nobody has read.
    fn pending_input(&self) -> String {
        let fd = self.slave.as_raw_fd();
        let mut input = Vec::new();
        // SAFETY: fcntl and reads on our own descriptor, without waiting.
        unsafe {
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
            loop {
                let mut buf = [0u8; 256];
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 {
                    break;
                }
                input.extend_from_slice(&buf[..n as usize]);
            }
        }
        String::from_utf8_lossy(&input).into_owned()
    }
}

/// Prints `stat pid=P sid=S tty=T` for the shell itself (from /proc/$$/stat), then tries to
/// type into the terminal: `devtty RESULT` through /dev/tty (the controlling terminal, byte
/// A), `stdin RESULT` through descriptor 0 (byte B).
fn terminal_script() -> String {
    format!(
        "set -- $(sed 's/.*) //' /proc/$$/stat); echo \"stat pid=$$ sid=$4 tty=$5\"; \
         echo \"devtty $({probe} tiocsti /dev/tty --char A)\"; \
         echo \"stdin $({probe} tiocsti 0 --char B)\"",
        probe = probe_bin().display()
    )
}

/// `(pid, sid, tty_nr)` from the script's `stat` line.
fn session_of(output: &str) -> (i64, i64, i64) {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("stat "))
        .unwrap_or_else(|| panic!("no stat line in:\n{output}"));
    let field = |name: &str| -> i64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    (field("pid"), field("sid"), field("tty"))
}

#[test]
fn a_task_has_no_controlling_terminal_to_type_into() {
    if !kernel_lab_available() {
        return;
    }
    let script = terminal_script();
    // Outside a task, a program of uid 65534 (no capability) started in the terminal types
    // into it both ways.
    let pty = Pty::open();
    let (status, output) = pty.run(
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .args(["sh", "-c", &script]),
    );
    assert!(status.success(), "outside: {status}\n{output}");
    for attempt in ["devtty", "stdin"] {
        let result = prefixed_result(&output, attempt);
        assert!(result.ok, "outside, {attempt}: {result:?}\n{output}");
    }
    let (pid, sid, tty) = session_of(&output);
    assert!(
        sid == pid && tty != 0,
        "outside: the shell leads the terminal's session\n{output}"
    );
    assert_eq!(pty.pending_input(), "AB", "outside: the typed input");

    for mode in EVERY_MODE {
        for as_root in [false, true] {
            let flags = as_user(mode, as_root);
            let pty = Pty::open();
            let (status, output) = pty.run(&mut enforcer_command(&flags, &["sh", "-c", &script]));
            assert_eq!(status.code(), Some(0), "{flags:?}:\n{output}");
            let (pid, sid, tty) = session_of(&output);
            // The task's shell leads a session of its own (the enforcer's, outside the
            // task's PID namespace, would read as 0), with no controlling terminal.
            assert!(
                sid == pid && tty == 0,
                "{flags:?}: the task must lead a session of its own with no terminal\n{output}"
            );
            let devtty = prefixed_result(&output, "devtty");
            assert!(
                failed_with_one_of(&devtty, &[libc::ENXIO, libc::EPERM]),
                "{flags:?}: /dev/tty: {devtty:?}\n{output}"
            );
            let stdin = prefixed_result(&output, "stdin");
            assert!(
                failed_with_one_of(&stdin, &[libc::EPERM]),
                "{flags:?}: TIOCSTI on stdin: {stdin:?}\n{output}"
            );
            assert_eq!(
                pty.pending_input(),
                "",
                "{flags:?}: the task typed into the operator's terminal"
            );
        }
    }
}

#[test]
fn seccomp_refuses_terminal_injection_in_every_mode() {
    if !kernel_lab_available() {
        return;
    }
    // On /dev/null the kernel itself answers ENOTTY: EPERM can only be seccomp's.
    let not_a_terminal: [&[&str]; 4] = [
        &["tiocsti", "/dev/null"],
        &["tiocsti", "/dev/null", "--high-bits"],
        &["tioclinux", "/dev/null"],
        &["tioclinux", "/dev/null", "--high-bits"],
    ];
    for args in not_a_terminal {
        let outside = probe_as_nobody(args);
        assert!(
            failed_with_one_of(&outside, &[libc::ENOTTY]),
            "{args:?} outside: {outside:?}"
        );
    }
    // A terminal of the process's own, made its controlling terminal: the kernel lets it
    // type into it (the check seccomp adds to having no terminal of the operator's).
    let own_terminal: [&[&str]; 2] = [
        &["tiocsti", "pty", "--char", "Q"],
        &["tiocsti", "pty", "--char", "Q", "--high-bits"],
    ];
    for args in own_terminal {
        let outside = probe_as_nobody(args);
        assert!(
            outside.ok && outside.reply.as_deref() == Some("Q"),
            "{args:?} outside: {outside:?}"
        );
    }
    // The console (root outside: TIOCL_GETFGCONSOLE only asks which console is in front).
    let console = Path::new("/dev/tty0")
        .exists()
        .then_some(&["tioclinux", "/dev/tty0"][..]);
    if let Some(args) = console {
        let outside = run_probe(args);
        assert!(outside.ok, "{args:?} outside as root: {outside:?}");
    }
    for mode in EVERY_MODE {
        let nobody = as_user(mode, false);
        let nobody: Vec<&str> = nobody.iter().map(String::as_str).collect();
        for args in not_a_terminal.iter().chain(&own_terminal) {
            failed_with(&probe_task(&nobody, args), libc::EPERM);
        }
        if let Some(args) = console {
            let task = output_in_time(&mut enforcer_command(
                &as_user(mode, true),
                &[probe_bin().to_str().unwrap()]
                    .into_iter()
                    .chain(args.iter().copied())
                    .collect::<Vec<_>>(),
            ));
            let result = ProbeResult::from_stdout(&task.stdout).unwrap();
            assert!(
                failed_with_one_of(&result, &[libc::EPERM]),
                "{mode:?} root task {args:?}: {result:?}\n{}",
                String::from_utf8_lossy(&task.stderr)
            );
        }
    }
}

/// The task's exit code when seccomp killed it for a call of another ABI.
const KILLED_BY_SECCOMP: i32 = 128 + libc::SIGSYS;

#[test]
fn i386_system_calls_get_the_same_refusals() {
    if !kernel_lab_available() {
        return;
    }
    // (probe arguments, errno in a Full task.) Through `int 0x80`, as a 32-bit program
    // makes them: another architecture for seccomp, with other numbers.
    let calls: [(&[&str], i32); 5] = [
        (&["userns", "unshare", "--i386"], libc::EPERM),
        (&["userns", "clone", "--i386"], libc::EPERM),
        (&["userns", "clone3", "--i386"], libc::ENOSYS),
        (&["tiocsti", "pty", "--char", "Q", "--i386"], libc::EPERM),
        (&["tiocsti", "/dev/null", "--i386"], libc::EPERM),
    ];
    let probe_outside = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(probe_bin())
        .args(calls[0].0)
        .output()
        .unwrap();
    let no_i386 = probe_outside.status.code().is_none()
        || ProbeResult::from_stdout(&probe_outside.stdout)
            .is_ok_and(|r| r.errno == Some(libc::ENOSYS));
    if no_i386 {
        eprintln!(
            "SKIPPED: no i386 system calls here ({})",
            probe_outside.status
        );
        return;
    }
    for (args, _) in calls {
        let outside = probe_as_nobody(args);
        if args.contains(&"/dev/null") {
            assert!(
                failed_with_one_of(&outside, &[libc::ENOTTY]),
                "{args:?} outside: {outside:?}"
            );
        } else {
            assert!(outside.ok, "{args:?} outside as uid 65534: {outside:?}");
        }
    }
    let full = as_user(FULL, false);
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    // Every way through is listed before the test fails.
    let mut through = Vec::new();
    for (args, errno) in calls {
        let outcome = probe_task(&full, args);
        let result = outcome.probe();
        if !failed_with_one_of(&result, &[errno]) {
            through.push(format!(
                "Full task {args:?}: expected errno {errno}, got {result:?}"
            ));
        }
    }
    // None and HTTP kill a process that makes calls of another ABI.
    for mode in RESTRICTED {
        let flags = as_user(mode, false);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        for (args, _) in calls {
            let outcome = probe_task(&flags, args);
            if outcome.exit_code != Some(KILLED_BY_SECCOMP)
                || outcome.stdout.contains("\"ok\":true")
            {
                through.push(format!(
                    "{mode:?} task {args:?}: expected to be killed (exit {KILLED_BY_SECCOMP}), \
                     got exit {:?}, stdout {}",
                    outcome.exit_code,
                    outcome.stdout.trim()
                ));
            }
        }
    }
    assert!(through.is_empty(), "{}", through.join("\n"));
}

/// The bit of SIGPIPE in /proc/PID/status masks.
const SIGPIPE_BIT: u64 = 1 << (libc::SIGPIPE - 1);

/// Whether the `SigIgn:` line in `stdout` has SIGPIPE.
fn ignores_sigpipe(stdout: &str) -> bool {
    let mask = stdout
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .unwrap_or_else(|| panic!("no SigIgn line in {stdout}"));
    u64::from_str_radix(mask.trim(), 16).unwrap() & SIGPIPE_BIT != 0
}

#[test]
fn sigpipe_has_its_default_disposition_in_a_task() {
    if !kernel_lab_available() {
        return;
    }
    let script = "yes | head -1; grep SigIgn /proc/self/status";
    let ignoring_sigpipe = |command: &mut Command| {
        // SAFETY: signal(2) in the child before exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                Ok(())
            });
        }
    };
    // Outside, started with SIGPIPE ignored (as a Rust program leaves it to what it
    // starts), `yes` complains of a broken pipe and SigIgn shows it; with the default, not.
    let mut ignoring = Command::new("sh");
    ignoring.args(["-c", script]);
    ignoring_sigpipe(&mut ignoring);
    let outside = output_in_time(&mut ignoring);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&outside.stdout),
        String::from_utf8_lossy(&outside.stderr),
    );
    assert!(
        stderr.contains("Broken pipe") && ignores_sigpipe(&stdout),
        "outside, SIGPIPE ignored: {stdout}\n{stderr}"
    );
    let outside = output_in_time(Command::new("sh").args(["-c", script]));
    let stdout = String::from_utf8_lossy(&outside.stdout);
    assert!(!ignores_sigpipe(&stdout), "outside, default: {stdout}");

    for mode in EVERY_MODE {
        for as_root in [false, true] {
            let flags = as_user(mode, as_root);
            let mut command = enforcer_command(&flags, &["sh", "-c", script]);
            ignoring_sigpipe(&mut command);
            let task = output_in_time(&mut command);
            let (stdout, stderr) = (
                String::from_utf8_lossy(&task.stdout),
                String::from_utf8_lossy(&task.stderr),
            );
            assert_eq!(task.status.code(), Some(0), "{flags:?}: {stderr}");
            assert_eq!(stdout.lines().next(), Some("y"), "{flags:?}: {stdout}");
            assert!(!stderr.contains("Broken pipe"), "{flags:?}: {stderr}");
            assert!(
                !ignores_sigpipe(&stdout),
                "{flags:?}: SIGPIPE ignored in the task: {stdout}"
            );
        }
    }
}

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;

/// Makes `command` start with a new session keyring of its own (nothing is added to a
/// keyring of the test's or the user's) that holds the "user" key `description`, whose
/// payload is `payload`. The keyring and key go with the last process that has them.
fn with_session_key(command: &mut Command, description: &str, payload: &str) {
    let description = std::ffi::CString::new(description).unwrap();
    let payload = payload.as_bytes().to_vec();
    // SAFETY: keyctl and add_key on data prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            let joined = libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_JOIN_SESSION_KEYRING,
                std::ptr::null::<libc::c_char>(),
            );
            let added = libc::syscall(
                libc::SYS_add_key,
                c"user".as_ptr(),
                description.as_ptr(),
                payload.as_ptr(),
                payload.len(),
                KEY_SPEC_SESSION_KEYRING,
            );
            if joined < 0 || added < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_task_gets_a_session_keyring_of_its_own() {
    if !kernel_lab_available() {
        return;
    }
    let payload = format!("secret-{}", std::process::id());
    let probe = probe_bin();
    let probe = probe.to_str().unwrap();
    // A description per run: keys of earlier runs stay in /proc/keys until collected.
    let mut runs = 0;
    let mut description = || {
        runs += 1;
        format!("enforcer-test-{}-{runs}", std::process::id())
    };
    for by_id in [None, Some("--by-id")] {
        let args = |description: &str| -> Vec<String> {
            ["keyring-read", description]
                .into_iter()
                .chain(by_id)
                .map(str::to_string)
                .collect()
        };
        // Outside, the key can be read by root and, through the session keyring it
        // inherited, by uid 65534.
        for who in ["root", "uid 65534"] {
            let description = description();
            let args = args(&description);
            let mut command = Command::new("setpriv");
            if who == "root" {
                command.arg("--");
            } else {
                command.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
            }
            command.arg(probe).args(&args);
            with_session_key(&mut command, &description, &payload);
            let outside = ProbeResult::from_stdout(&output_in_time(&mut command).stdout).unwrap();
            assert!(
                outside.ok && outside.reply.as_deref() == Some(payload.as_str()),
                "{who} outside, {args:?}: {outside:?}"
            );
        }
        for mode in EVERY_MODE {
            for as_root in [false, true] {
                let flags = as_user(mode, as_root);
                let description = description();
                let args = args(&description);
                let task: Vec<&str> = [probe]
                    .into_iter()
                    .chain(args.iter().map(String::as_str))
                    .collect();
                let mut command = enforcer_command(&flags, &task);
                with_session_key(&mut command, &description, &payload);
                let output = output_in_time(&mut command);
                let stdout = String::from_utf8_lossy(&output.stdout);
                assert!(!stdout.contains(&payload), "{flags:?} {args:?}: {stdout}");
                let result = ProbeResult::from_stdout(&output.stdout).unwrap_or_else(|e| {
                    panic!("{e:#}\n{}", String::from_utf8_lossy(&output.stderr))
                });
                // The task may not use the kernel's keys at all (they are not namespaced);
                // by id, it finds none listed that it may view.
                let expected: &[i32] = if by_id.is_some() {
                    &[libc::ENOKEY, libc::EPERM]
                } else {
                    &[libc::EPERM]
                };
                assert!(
                    failed_with_one_of(&result, expected),
                    "{flags:?} {args:?}: expected {expected:?}, got {result:?}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

#[test]
fn a_task_can_not_make_the_kernel_run_its_key_helper() {
    if !kernel_lab_available() {
        return;
    }
    // request_key(2) can make the kernel run /sbin/request-key as root outside the task (its
    // dns_resolver helper looks names up through the node's resolver). Without a callout, as
    // here, no helper runs: outside a task the call works and finds no key.
    let description = format!("enforcer-test-request-{}", std::process::id());
    let outside = run_probe(&["request-key", &description]);
    assert_eq!(outside.errno, Some(libc::ENOKEY), "{outside:?}");
    for mode in EVERY_MODE {
        for as_root in [false, true] {
            let flags = as_user(mode, as_root);
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let outcome = probe_task(&flags, &["request-key", &description]);
            let result = outcome.probe();
            assert_eq!(result.errno, Some(libc::EPERM), "{flags:?}: {result:?}");
        }
    }
}

/// A SysV message queue key of this test's; the queue under it in the node's IPC namespace,
/// if any, is removed on drop.
struct QueueKey(i32);

impl QueueKey {
    fn new(n: i32) -> QueueKey {
        let key = QueueKey(0x4500_0000 + (std::process::id() as i32 & 0x3f_ffff) * 4 + n);
        key.remove();
        key
    }

    fn remove(&self) {
        // SAFETY: msgget and msgctl take integers (and a null buffer for IPC_RMID).
        unsafe {
            let id = libc::msgget(self.0, 0);
            if id >= 0 {
                libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }

    /// Whether a /proc/sysvipc/msg listing has a queue under this key.
    fn listed_in(&self, listing: &str) -> bool {
        listing
            .lines()
            .any(|line| line.split_whitespace().next() == Some(&self.0.to_string()))
    }
}

impl Drop for QueueKey {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn sysv_message_queues_and_host_names_are_the_tasks_own() {
    if !kernel_lab_available() {
        return;
    }
    let node_queue = QueueKey::new(0);
    let task_queue = QueueKey::new(1);
    let node_listing = || std::fs::read_to_string("/proc/sysvipc/msg").unwrap();
    // Outside, a queue one process makes is listed for, and found by, any other.
    let created = run_probe(&["msg-create", &node_queue.0.to_string()]);
    assert!(created.ok, "outside: {created:?}");
    assert!(node_queue.listed_in(&node_listing()));
    let found = probe_as_nobody(&["msg-find", &node_queue.0.to_string()]);
    assert!(found.ok, "uid 65534 outside: {found:?}");
    let namespaces = |pid: &str| {
        ["ipc", "uts"].map(|ns| {
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
                .unwrap()
                .display()
                .to_string()
        })
    };
    let node_namespaces = namespaces("self");
    let script = format!(
        "echo listing-start; cat /proc/sysvipc/msg; echo listing-end; \
         echo \"find $({probe} msg-find {node})\"; \
         echo \"create $({probe} msg-create {task})\"; \
         echo ns $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts)",
        probe = probe_bin().display(),
        node = node_queue.0,
        task = task_queue.0,
    );
    for mode in EVERY_MODE {
        let flags = as_user(mode, false);
        let output = output_in_time(&mut enforcer_command(&flags, &["sh", "-c", &script]));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert_eq!(output.status.code(), Some(0), "{flags:?}: {stderr}");
        let listing: String = stdout
            .split("listing-start")
            .nth(1)
            .and_then(|rest| rest.split("listing-end").next())
            .unwrap_or_else(|| panic!("{flags:?}: {stdout}"))
            .to_string();
        assert!(
            !node_queue.listed_in(&listing),
            "{flags:?}: the task lists the node's queue:\n{listing}"
        );
        let found = prefixed_result(&stdout, "find");
        assert!(
            failed_with_one_of(&found, &[libc::ENOENT]),
            "{flags:?}: the task finds the node's queue: {found:?}"
        );
        let created = prefixed_result(&stdout, "create");
        assert!(
            created.ok,
            "{flags:?}: SysV queues work in a task: {created:?}"
        );
        let leaked = task_queue.listed_in(&node_listing());
        task_queue.remove();
        assert!(!leaked, "{flags:?}: the task's queue is the node's");
        let task_namespaces: Vec<&str> = stdout
            .lines()
            .find_map(|line| line.strip_prefix("ns "))
            .unwrap_or_else(|| panic!("{flags:?}: {stdout}"))
            .split_whitespace()
            .collect();
        assert_eq!(task_namespaces.len(), 2, "{flags:?}: {stdout}");
        for (node, task) in node_namespaces.iter().zip(task_namespaces) {
            assert_ne!(node, task, "{flags:?}: the task shares {node}");
        }
    }
}

/// Hardware settings under /proc that check no capability, so that uid 0 could change them
/// with none: the default and one IRQ's CPU affinity, and one PCI device's config space,
/// those the node has.
fn hardware_settings() -> Vec<String> {
    let first_entry = |dir: &str, numeric: bool| -> Option<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !numeric || n.parse::<u32>().is_ok())
            .collect();
        names.sort_by_key(|n| (n.len(), n.clone()));
        names.into_iter().next()
    };
    let irq = first_entry("/proc/irq", true).map(|n| format!("/proc/irq/{n}/smp_affinity"));
    let pci = first_entry("/proc/bus/pci", false)
        .filter(|bus| bus != "devices")
        .and_then(|bus| {
            let dir = format!("/proc/bus/pci/{bus}");
            first_entry(&dir, false).map(|dev| format!("{dir}/{dev}"))
        });
    ["/proc/irq/default_smp_affinity".to_string()]
        .into_iter()
        .chain(irq)
        .chain(pci)
        .filter(|f| Path::new(f).exists())
        .collect()
}

#[test]
fn irq_and_pci_settings_are_read_only_for_a_root_task_in_every_mode() {
    if !kernel_lab_available() {
        return;
    }
    let files = hardware_settings();
    assert!(
        files.iter().any(|f| f == "/proc/irq/default_smp_affinity"),
        "{files:?}"
    );
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    only_root_outside_can_open(&files);
}

#[test]
fn new_user_namespaces_are_refused_in_every_mode() {
    if !kernel_lab_available() {
        return;
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    assert!(
        max.trim().parse::<u64>().unwrap() > 0,
        "user namespaces are disabled on this node: nothing to refuse"
    );
    let clone_newns = libc::CLONE_NEWNS.to_string();
    // (probe arguments, errno in a task.)
    let attempts: [(&[&str], i32); 5] = [
        (&["userns", "unshare"], libc::EPERM),
        (
            &["userns", "unshare", "--extra-flags", &clone_newns],
            libc::EPERM,
        ),
        (&["userns", "clone"], libc::EPERM),
        // clone reads only the low 32 bits of its flags.
        (&["userns", "clone", "--high-bits"], libc::EPERM),
        (&["userns", "clone3"], libc::ENOSYS),
    ];
    for (args, _) in attempts {
        let outside = probe_as_nobody(args);
        assert!(outside.ok, "{args:?} as uid 65534 outside: {outside:?}");
    }
    // unshare reads all 64 bits: the kernel itself refuses bit 32 (EINVAL).
    let high_unshare: &[&str] = &["userns", "unshare", "--high-bits"];
    let outside = probe_as_nobody(high_unshare);
    assert!(
        failed_with_one_of(&outside, &[libc::EINVAL]),
        "outside: {outside:?}"
    );
    for mode in EVERY_MODE {
        for as_root in [false, true] {
            let flags = as_user(mode, as_root);
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            for (args, errno) in attempts {
                let outcome = probe_task(&flags, args);
                let result = outcome.probe();
                assert!(
                    failed_with_one_of(&result, &[errno]),
                    "{flags:?} {args:?}: expected errno {errno}, got {result:?}\nstderr:\n{}",
                    outcome.stderr
                );
            }
            let result = probe_task(&flags, high_unshare).probe();
            assert!(
                failed_with_one_of(&result, &[libc::EPERM, libc::EINVAL]),
                "{flags:?} {high_unshare:?}: {result:?}"
            );
        }
    }
    // And as programs do it.
    let util_linux = output_in_time(&mut enforcer_command(
        &as_user(NONE, false),
        &["unshare", "--user", "true"],
    ));
    assert_ne!(util_linux.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&util_linux.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&util_linux.stderr)
    );
}

/// A file the task creates to show that it ran; removed on drop.
struct Marker(PathBuf);

impl Marker {
    fn new(name: &str) -> Marker {
        let path = std::env::temp_dir().join(format!("enforcer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Marker(path)
    }

    fn script(&self) -> String {
        format!("touch {}", self.0.display())
    }

    /// Whether the task ran (and forgets that it did).
    fn take(&self) -> bool {
        std::fs::remove_file(&self.0).is_ok()
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An AF_VSOCK stream socket made here (outside any task), if the node has vsock.
fn vsock_socket() -> Option<OwnedFd> {
    socket2::Socket::new(
        socket2::Domain::from(libc::AF_VSOCK),
        socket2::Type::STREAM,
        None,
    )
    .ok()
    .map(OwnedFd::from)
}

/// Runs `sh -c SCRIPT` as uid 65534's task with `socket` as descriptor `fd` (0 or 1; the
/// other /dev/null, stderr a pipe); returns the exit code and stderr. (Not 2: with stderr a
/// socket it can't write to, the enforcer can't log, so it can't run in any mode.)
fn run_with_socket_on(
    mode: &[&str],
    script: &str,
    fd: usize,
    socket: OwnedFd,
) -> (Option<i32>, String) {
    let mut command = enforcer_command(&as_user(mode, false), &["sh", "-c", script]);
    let mut socket = Some(socket);
    let mut stdio = |n: usize, otherwise: Stdio| {
        if n == fd {
            Stdio::from(socket.take().unwrap())
        } else {
            otherwise
        }
    };
    command
        .stdin(stdio(0, Stdio::null()))
        .stdout(stdio(1, Stdio::null()))
        .stderr(stdio(2, Stdio::piped()));
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    // The socket's only copy is now the child's.
    drop(command);
    let status = wait_in_time(&mut child, "enforcer run");
    (status.code(), reader.join().unwrap())
}

#[test]
fn a_non_unix_socket_on_stdio_is_refused_outside_full() {
    if !kernel_lab_available() {
        return;
    }
    let marker = Marker::new("stdio");
    let script = marker.script();
    // A unix socket is fine in None (the task could make one itself).
    let (unix, _peer) = UnixStream::pair().unwrap();
    let (code, stderr) = run_with_socket_on(NONE, &script, 0, OwnedFd::from(unix));
    assert_eq!(code, Some(0), "unix socket on stdin: {stderr}");
    assert!(
        marker.take(),
        "the task must run with a unix socket on stdin"
    );
    if vsock_socket().is_none() {
        eprintln!("SKIPPED: this node can't make vsock sockets");
        return;
    }
    // Full takes any socket.
    let (code, stderr) = run_with_socket_on(FULL, &script, 0, vsock_socket().unwrap());
    assert_eq!(code, Some(0), "Full, vsock on stdin: {stderr}");
    assert!(marker.take(), "a Full task must run with vsock on stdin");
    // None and HTTP may not make vsock sockets: one passed in is refused, and nothing runs.
    for mode in RESTRICTED {
        for (fd, which) in [(0, "stdin"), (1, "stdout")] {
            let (code, stderr) = run_with_socket_on(mode, &script, fd, vsock_socket().unwrap());
            assert!(
                !marker.take(),
                "{mode:?}: the task ran with vsock on {which}"
            );
            assert_eq!(code, Some(2), "{mode:?}, vsock on {which}: {stderr}");
            assert!(stderr.contains("socket"), "{mode:?}, {which}: {stderr}");
        }
    }
}

/// A job spec file of this test's; removed on drop.
struct SpecFile(PathBuf);

impl SpecFile {
    fn new(name: &str, text: &str) -> SpecFile {
        let path = std::env::temp_dir().join(format!("enforcer-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        SpecFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for SpecFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn validate(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(enforcer_bin())
        .arg("validate")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn http_dns_never_reaches_the_upstream_for_names_the_task_may_not_use() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let dns = lab.dns().to_string();
    // A name of this test's, so that only the task's queries are counted.
    let name = format!("nodns-{}.lab.test", std::process::id());
    let asked = |lab: &enforcer_tests::Lab| {
        lab.dns_queries()
            .iter()
            .filter(|q| q.as_str() == name)
            .count()
    };
    let default_http = SpecFile::new(
        "default.json",
        r#"{"Tasks":[{"Name":"t","Network":{"Type":"Default"}}]}"#,
    );
    let with_name = ["--network", "http", "--domain", "files.lab.test"];
    let ip_only = ["--network", "http", "--domain", "192.0.2.123"];
    let default_spec = ["--spec", default_http.path(), "--default-network", "http"];
    for transport in [None, Some("--tcp")] {
        let query: Vec<&str> = ["dns", dns.as_str(), name.as_str()]
            .into_iter()
            .chain(transport)
            .collect();
        // With a name or without (an IP literal only, or Type Default on an HTTP node), the
        // task's resolver refuses the name and the upstream never hears of it.
        for network in [&with_name[..], &ip_only[..], &default_spec[..]] {
            let flags: Vec<&str> = network
                .iter()
                .copied()
                .chain(["--upstream", &dns])
                .collect();
            let before = asked(&lab);
            let outcome = probe_task(&flags, &query);
            allowed(&outcome);
            let reply = outcome.probe().reply.unwrap();
            assert!(
                reply.starts_with("Refused:"),
                "{flags:?} {query:?}: {reply}"
            );
            assert_eq!(
                asked(&lab),
                before,
                "{flags:?} {query:?} reached the resolver"
            );
        }
    }
    // And `validate` says which: a resolver for the names, or no DNS at all.
    let (code, stdout, stderr) = validate(&with_name);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains("no DNS"), "{stdout}");
    for args in [
        &ip_only[..],
        &[default_http.path(), "--default-network", "http"],
    ] {
        let (code, stdout, stderr) = validate(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stdout.contains("no DNS"), "{args:?}: {stdout}");
    }
}
