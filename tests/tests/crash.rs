//! `kill -9` of `enforcer run`: the task stays enforced, and `enforcer gc` cleans up.
//! Alone in its test binary: every `enforcer run` collects dead runs when it starts, so a
//! concurrent test would end this task early.

use std::{
    net::IpAddr,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use enforcer::cgroup::cgroup2_mount;
use enforcer_tests::{enforcer_bin, expect::tcp_hits, lab_or_skip, probe_bin, ProbeResult};

#[test]
fn killing_the_enforcer_leaves_the_task_enforced_until_gc() {
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
    wait_for_file(&result_file);
    let result: ProbeResult =
        ProbeResult::from_stdout(&std::fs::read(&result_file).unwrap()).unwrap();
    assert!(result.is_eperm(), "after kill -9 the task got {result:?}");
    assert_eq!(tcp_hits(&lab, IpAddr::V4(lab.host(0)), 80), hits);

    let cgroup = cgroup2_mount().unwrap().join("enforcer").join(&task_id);
    assert!(cgroup.exists());
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

fn wait_for_file(path: &std::path::Path) {
    for _ in 0..100 {
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}
