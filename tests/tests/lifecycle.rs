//! What `enforcer run` does around the task: signals in, leftovers out, nothing left behind.

use std::{
    os::unix::process::CommandExt,
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
    // Pids are the task's own (it has a PID namespace): the background process is known to
    // the host by a duration no other process has. The task ends once it is seen running.
    let duration = format!("30.{}", std::process::id());
    let script = format!(
        "sleep {duration} & for i in $(seq 200); do \
         [ \"$(tr '\\0' ' ' < /proc/$!/cmdline)\" = 'sleep {duration} ' ] && exit 0; \
         sleep 0.01; done; exit 1"
    );
    let outcome = enforcer_run(
        &["--network", "none", "--task-id", &task_id],
        &["sh", "-c", &script],
    );
    assert_eq!(outcome.exit_code, Some(0), "{}", outcome.stderr);
    // Gone, or a zombie waiting to be reaped (a zombie's cmdline is empty).
    let survivors = processes_with_argv(&["sleep", &duration]);
    assert!(
        survivors.is_empty(),
        "the task's background process outlived it: {survivors:?}"
    );
    let cgroup = cgroup2_mount().unwrap().join("enforcer").join(&task_id);
    assert!(!cgroup.exists(), "{} left behind", cgroup.display());
    assert!(!paths::pin_dir(&task_id).exists(), "pins left behind");
    assert!(
        !paths::state_file(&task_id).exists(),
        "run state left behind"
    );
}

#[test]
fn a_signal_to_the_whole_process_group_reaches_the_task_once() {
    if !kernel_lab_available() {
        return;
    }
    // As a terminal's Ctrl-C does: SIGINT to every process of the foreground group.
    let script = "n=0; trap 'n=$((n+1))' INT; sleep 2 & wait; sleep 1 & wait; echo got $n";
    let enforcer = Command::new(enforcer_bin())
        .args(["run", "--network", "none", "--", "sh", "-c", script])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(1000));
    // SAFETY: kill(2) on the process group our child leads.
    unsafe { libc::kill(-(enforcer.id() as i32), libc::SIGINT) };
    let output = enforcer.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got 1\n");
}

#[test]
fn a_task_that_will_not_end_is_killed_after_a_grace_period() {
    if !kernel_lab_available() {
        return;
    }
    // One task ignores SIGTERM; the other (as root) freezes its own cgroup, so that no
    // signal reaches it at all.
    let cgroup2 = cgroup2_mount().unwrap();
    let freeze = format!("echo 1 > {}/cgroup.freeze; sleep 60", cgroup2.display());
    for script in ["trap '' TERM; sleep 60 & wait; sleep 60", freeze.as_str()] {
        let mut enforcer = Command::new(enforcer_bin())
            .args(["run", "--network", "none", "--", "sh", "-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        thread::sleep(Duration::from_millis(700));
        let asked = std::time::Instant::now();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(enforcer.id() as i32, libc::SIGTERM) };
        let status = enforcer.wait().unwrap();
        let took = asked.elapsed();
        assert!(
            took > Duration::from_secs(4) && took < Duration::from_secs(20),
            "{script}: ended {took:?} after SIGTERM ({status})"
        );
        assert_eq!(status.code(), Some(128 + libc::SIGKILL), "{script}");
    }
}

/// Host pids of the processes whose command line is `argv`.
fn processes_with_argv(argv: &[&str]) -> Vec<String> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|arg| [arg.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == wanted))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn gc_leaves_a_run_state_of_an_unknown_format_alone() {
    if !kernel_lab_available() {
        return;
    }
    // A dead run's state, of a format from some other enforcer, naming a live cgroup.
    let task_id = format!("format-{}", std::process::id());
    let cgroup = cgroup2_mount().unwrap().join("enforcer").join(&task_id);
    std::fs::create_dir_all(&cgroup).unwrap();
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(cgroup.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&cgroup).unwrap());
    let state = serde_json::json!({
        "format": 99,
        "task_id": task_id,
        "owner_pid": dead_pid,
        "owner_start_time": 1,
        "cgroup": cgroup,
        "cgroup_inode": inode,
    });
    let state_file = paths::state_file(&task_id);
    std::fs::create_dir_all(paths::STATE_ROOT).unwrap();
    std::fs::write(&state_file, state.to_string()).unwrap();

    let gc = Command::new(enforcer_bin()).arg("gc").output().unwrap();
    let stderr = String::from_utf8_lossy(&gc.stderr);
    let left_alone = sleeper.try_wait().unwrap().is_none() && state_file.exists();
    // Cleaned up before asserting, so a failure leaves nothing behind.
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = std::fs::remove_dir(&cgroup);
    let _ = std::fs::remove_file(&state_file);
    assert!(gc.status.success(), "{stderr}");
    assert!(left_alone, "gc touched a run of another format: {stderr}");
    assert!(
        stderr.contains("format this enforcer does not know"),
        "{stderr}"
    );
}

#[test]
fn gc_with_another_run_directory_leaves_a_live_runs_pins_alone() {
    if !kernel_lab_available() {
        return;
    }
    let task_id = format!("foreign-gc-{}", std::process::id());
    let mut live = Command::new(enforcer_bin())
        .args([
            "run",
            "--network",
            "none",
            "--task-id",
            &task_id,
            "--",
            "sleep",
            "30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pins = paths::pin_dir(&task_id);
    for _ in 0..500 {
        if pins.join("egress").exists() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    // An enforcer in another mount namespace, with a /run of its own: it knows no run state.
    let gc = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /run && exec \"$0\" gc")
        .arg(enforcer_bin())
        .output()
        .unwrap();
    let kept = pins.join("egress").exists();
    // SAFETY: kill(2) on our own child; SIGTERM ends the run, which cleans up after itself.
    unsafe { libc::kill(live.id() as i32, libc::SIGTERM) };
    let _ = live.wait();
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert!(
        kept,
        "a gc that can't see a live run's state unpinned its enforcement"
    );
}
