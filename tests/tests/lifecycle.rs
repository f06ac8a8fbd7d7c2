//! What `enforcer run` does around the task: signals in, leftovers out, nothing left behind.

use std::{
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use enforcer::{cgroup::cgroup2_mount, paths};
use enforcer_tests::{enforcer_bin, kernel_lab_available, task::enforcer_run};

#[test]
fn signals_to_the_enforcer_reach_the_task() {
    if !kernel_lab_available() {
        return;
    }
    let mut enforcer = Command::new(enforcer_bin())
        .args(["run", "--network", "none", "--"])
        .args(["sh", "-c", "trap 'exit 42' TERM; sleep 20 & wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(700));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(enforcer.id() as i32, libc::SIGTERM) };
    let status = enforcer.wait().unwrap();
    assert_eq!(status.code(), Some(42), "the task's trap must have run");
}

#[test]
fn leftovers_are_killed_and_nothing_is_left_behind() {
    if !kernel_lab_available() {
        return;
    }
    let task_id = format!("leftover-{}", std::process::id());
    let pid_file = std::env::temp_dir().join(format!("{task_id}.pid"));
    let script = format!("sleep 30 & echo $! > {}", pid_file.display());
    let outcome = enforcer_run(
        &["--network", "none", "--task-id", &task_id],
        &["sh", "-c", &script],
    );
    assert_eq!(outcome.exit_code, Some(0), "{}", outcome.stderr);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, or a zombie waiting for whoever adopted it to reap it.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "the task's background process {pid} outlived it:\n{status}"
    );
    let cgroup = cgroup2_mount().unwrap().join("enforcer").join(&task_id);
    assert!(!cgroup.exists(), "{} left behind", cgroup.display());
    assert!(!paths::pin_dir(&task_id).exists(), "pins left behind");
    assert!(
        !paths::state_file(&task_id).exists(),
        "run state left behind"
    );
    let _ = std::fs::remove_file(pid_file);
}
