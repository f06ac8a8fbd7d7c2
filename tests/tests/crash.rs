//! `kill -9` of `enforcer run`: the task ends with it, never runs open, and `enforcer gc`
//! cleans up what is left.
//! Alone in its test binary: every `enforcer run` collects dead runs when it starts, so a
//! concurrent test would end this task early.

use std::{
    net::IpAddr,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use enforcer::cgroup::cgroup2_mount;
use enforcer_tests::{enforcer_bin, expect::tcp_hits, lab_or_skip, probe_bin};

#[test]
fn killing_the_enforcer_ends_the_task_and_gc_cleans_up() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let task_id = format!("killed-{}", std::process::id());
    let result_file = std::env::temp_dir().join(format!("{task_id}.json"));
    let script = format!(
        "sleep 1.5; {} tcp {} 80 > {}; sleep 30",
        probe_bin().display(),
        lab.host(0),
        result_file.display()
    );
    let mut enforcer = Command::new(enforcer_bin())
        .args([
            "run",
            "--network",
            "none",
            "--task-id",
            &task_id,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    enforcer.kill().unwrap();
    enforcer.wait().unwrap();
    let hits = tcp_hits(&lab, IpAddr::V4(lab.host(0)), 80);
    // The task's init sees the enforcer go and ends the task: what it would have done after
    // 1.5 s never happens (its DNS would have had no resolver to answer it).
    thread::sleep(Duration::from_millis(2500));
    assert!(
        !result_file.exists(),
        "the task ran on after the enforcer died"
    );
    assert_eq!(tcp_hits(&lab, IpAddr::V4(lab.host(0)), 80), hits);

    let cgroup = cgroup2_mount().unwrap().join("enforcer").join(&task_id);
    assert!(cgroup.exists());
    let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap();
    assert!(procs.trim().is_empty(), "processes left: {procs}");
    let gc = Command::new(enforcer_bin()).arg("gc").output().unwrap();
    assert!(gc.status.success());
    assert!(String::from_utf8_lossy(&gc.stdout).contains(&task_id));
    assert!(
        !cgroup.exists(),
        "gc must kill the task and remove its cgroup"
    );
    assert!(!enforcer::paths::pin_dir(&task_id).exists());
    let _ = std::fs::remove_file(result_file);
}
