//! The command line as users meet it: specs, validation, bad input, failing closed.

use std::{path::PathBuf, process::Command};

use enforcer_tests::{
    enforcer_bin,
    expect::{allowed, refused_at_once},
    kernel_lab_available, lab_or_skip,
    task::{enforcer_run, probe_task},
};

fn scratch_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("enforcer-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn validate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(enforcer_bin())
        .arg("validate")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_explains_a_job_spec() {
    let job = scratch_file(
        "job.yaml",
        "Name: fetch\nType: batch\nTasks:\n  - Name: main\n    Engine: {Type: docker}\n    Network:\n      Type: http\n      Domains: [files.lab.test, '*.mirror.lab.test', a.mirror.lab.test]\n",
    );
    let (code, stdout, stderr) = validate(&[job.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("enforced: HTTP"), "{stdout}");
    assert!(
        stdout.contains("files.lab.test") && stdout.contains(".mirror.lab.test"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("a.mirror.lab.test"),
        "deduplicated under the wildcard: {stdout}"
    );
    let _ = std::fs::remove_file(job);
}

#[test]
fn validate_rejects_what_bacalhau_lets_slip() {
    for (network, domain) in [
        ("http", "http://x.com/a"),
        ("http", "x.com:443"),
        ("http", "a b.com"),
        ("http", "a..b.com"),
        ("none", "x.com"),
    ] {
        let (code, _, stderr) = validate(&["--network", network, "--domain", domain]);
        assert_eq!(code, Some(2), "{network} {domain}: {stderr}");
        assert!(stderr.starts_with("enforcer: "), "{stderr}");
    }
    let (code, _, stderr) = validate(&["--network", "http"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("at least one"), "{stderr}");
    let (code, _, stderr) = validate(&["--network", "tcp"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("accepted"), "{stderr}");
}

#[test]
fn bad_input_runs_nothing() {
    if !kernel_lab_available() {
        return;
    }
    let marker = std::env::temp_dir().join(format!("enforcer-cli-ran-{}", std::process::id()));
    let touch = format!("touch {}", marker.display());
    let bad_json = scratch_file("bad.json", "{\"Tasks\": [");
    let bad_json = bad_json.to_str().unwrap();
    for flags in [
        &["--network", "http"][..],
        &["--network", "http", "--domain", "x.com/path"],
        &["--spec", bad_json],
        &["--network", "none", "--user", "no-such-user-here"],
        &["--network", "none", "--task-id", "../escape"],
    ] {
        let outcome = enforcer_run(flags, &["sh", "-c", &touch]);
        assert!(
            matches!(outcome.exit_code, Some(2) | Some(125)),
            "{flags:?}: {:?} {}",
            outcome.exit_code,
            outcome.stderr
        );
        assert!(!marker.exists(), "{flags:?} ran the task");
    }
}

#[test]
fn a_failure_to_enforce_fails_closed() {
    if !kernel_lab_available() {
        return;
    }
    let marker = std::env::temp_dir().join(format!("enforcer-cli-closed-{}", std::process::id()));
    let touch = format!("touch {}", marker.display());
    // A parent that is not in the cgroup2 hierarchy: programs can't attach there.
    let not_a_cgroup = std::env::temp_dir().join(format!("not-a-cgroup-{}", std::process::id()));
    let outcome = enforcer_run(
        &[
            "--network",
            "none",
            "--cgroup-parent",
            not_a_cgroup.to_str().unwrap(),
        ],
        &["sh", "-c", &touch],
    );
    assert_eq!(outcome.exit_code, Some(125), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("the task did not run"),
        "{}",
        outcome.stderr
    );
    assert!(!marker.exists(), "the task ran without enforcement");
    let _ = std::fs::remove_dir_all(not_a_cgroup);
}

#[test]
fn a_job_spec_drives_run() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let job = scratch_file(
        "run.json",
        r#"{"Name":"j","Tasks":[{"Name":"fetch","Network":{"Type":"HTTP","Domains":["files.lab.test"]}},{"Name":"quiet","Network":{"Type":"None"}}]}"#,
    );
    let job = job.to_str().unwrap();
    let dns = lab.dns().to_string();
    let files = lab.host(0).to_string();
    let internal = format!("{files}/32");
    let fetch = [
        "--spec",
        job,
        "--task",
        "fetch",
        "--upstream",
        &dns,
        "--allow-internal",
        &internal,
    ];
    allowed(&probe_task(&fetch, &["fetch", &dns, "files.lab.test"]));
    refused_at_once(&probe_task(
        &fetch,
        &["tcp", &lab.host(2).to_string(), "80"],
    ));
    refused_at_once(&probe_task(
        &["--spec", job, "--task", "quiet"],
        &["tcp", &files, "80"],
    ));
    let outcome = enforcer_run(&["--spec", job], &["true"]);
    assert_eq!(
        outcome.exit_code,
        Some(2),
        "two tasks need --task: {}",
        outcome.stderr
    );
    let _ = std::fs::remove_file(job);
}

#[test]
fn gc_with_nothing_to_do_says_so() {
    if !kernel_lab_available() {
        return;
    }
    let out = Command::new(enforcer_bin()).arg("gc").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("removed "));
}

#[test]
fn a_failed_run_never_lets_gc_touch_a_cgroup_it_did_not_create() {
    if !kernel_lab_available() {
        return;
    }
    // Someone else's cgroup, with a process in it, named like the task id we then ask for.
    let parent = enforcer::cgroup::cgroup2_mount()
        .unwrap()
        .join(format!("enforcer-cli-{}", std::process::id()));
    let victim = parent.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(victim.join("cgroup.procs"), sleeper.id().to_string()).unwrap();

    let parent_arg = parent.to_str().unwrap();
    let outcome = enforcer_run(
        &[
            "--network",
            "none",
            "--cgroup-parent",
            parent_arg,
            "--task-id",
            "victim",
        ],
        &["true"],
    );
    assert_eq!(outcome.exit_code, Some(125), "{}", outcome.stderr);
    let gc = Command::new(enforcer_bin()).arg("gc").output().unwrap();
    assert!(gc.status.success());
    let alive = sleeper.try_wait().unwrap().is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = std::fs::remove_dir(&victim);
    let _ = std::fs::remove_dir(&parent);
    assert!(
        alive,
        "gc killed a process in a cgroup enforcer never created"
    );
}

#[test]
fn task_ids_are_plain_names() {
    if !kernel_lab_available() {
        return;
    }
    for id in ["a.b", "cgroup.procs", "../up", ""] {
        let outcome = enforcer_run(&["--network", "none", "--task-id", id], &["true"]);
        assert_eq!(outcome.exit_code, Some(2), "{id:?}: {}", outcome.stderr);
    }
}
