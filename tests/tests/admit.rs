//! `enforcer admit` and `enforcer run --node-policy`: node admission from the command line,
//! with job specs, Bacalhau's probe data (environment and stdin) and node policies.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use enforcer_tests::{enforcer_bin, kernel_lab_available, task::enforcer_run};

const PROBE_ENV: &str = "BACALHAU_JOB_SELECTION_PROBE_DATA";

/// A file in the temp directory, unique to this test process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, text: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("enforcer-admit-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Scratch(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What one `enforcer admit` printed.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `enforcer admit ARGS` with `env` set (and nothing else of the enforcer's or Bacalhau's
/// variables), feeding `stdin` (or nothing) to it.
fn admit(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Outcome {
    let mut command = Command::new(enforcer_bin());
    command
        .arg("admit")
        .args(args)
        .env_remove(PROBE_ENV)
        .env_remove("ENFORCER_NODE_POLICY")
        .env_remove("ENFORCER_DEFAULT_NETWORK")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        // The child may exit without reading stdin (probe data in the environment): a broken
        // pipe here is expected then.
        let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const POLICY: &str = "\
# This node runs no-network and HTTP tasks, never to .example or the private 10/8.
types: [None, HTTP]
deny_domains: [.example, 10.0.0.0/8]
max_domains: 4
";

const GOOD_JOB: &str = "\
Name: fetch
Type: batch
Tasks:
  - Name: main
    Engine: {Type: docker}
    Network:
      Type: http
      Domains: [crates.io, '*.GitHub.com']
";

const BAD_JOB: &str = r#"{"Name": "j", "Tasks": [
  {"Name": "fetch", "Network": {"Type": "HTTP", "Domains": ["crates.io", "x.evil.example", "10.0.0.0/16"]}},
  {"Name": "open", "Network": {"Type": "Host"}}]}"#;

/// Bacalhau's probe data (current compute nodes): the job under `Job`.
fn probe_data(domain: &str) -> String {
    format!(
        r#"{{"NodeID": "node-1", "Job": {{"ID": "j-1", "Tasks": [{{"Name": "t", "Engine": {{"Type": "docker"}}, "Network": {{"Type": "HTTP", "Domains": ["{domain}"]}}}}]}}}}"#
    )
}

#[test]
fn admit_exit_codes() {
    let policy = Scratch::new("policy.yaml", POLICY);
    let good = Scratch::new("good.yaml", GOOD_JOB);
    let bad = Scratch::new("bad.json", BAD_JOB);

    // 0: accepted.
    let out = admit(
        &["--spec", good.path(), "--node-policy", policy.path()],
        &[],
        None,
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let mut lines = out.stdout.lines();
    assert!(
        lines.next().unwrap().starts_with("accept"),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines.next(),
        Some("  task \"main\": network HTTP [.github.com, crates.io] admitted"),
        "{}",
        out.stdout
    );

    // 1: refused, one line per reason naming the domain and the rule.
    let out = admit(
        &["--spec", bad.path(), "--node-policy", policy.path()],
        &[],
        None,
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("reject"), "{}", out.stdout);
    assert_eq!(
        lines[1..],
        [
            "  task \"fetch\": domain x.evil.example is denied: node policy deny_domains entry .example covers it",
            "  task \"fetch\": domain 10.0.0.0/16 is denied: node policy deny_domains entry 10.0.0.0/8 covers it",
            "  task \"open\": type Host is not accepted (node policy types: None, HTTP)",
        ],
        "{}",
        out.stdout
    );
    // Only the chosen task is judged.
    let out = admit(
        &[
            "--spec",
            bad.path(),
            "--task",
            "open",
            "--node-policy",
            policy.path(),
        ],
        &[],
        None,
    );
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);

    // --json.
    let out = admit(
        &[
            "--spec",
            bad.path(),
            "--node-policy",
            policy.path(),
            "--json",
        ],
        &[],
        None,
    );
    assert_eq!(out.code, Some(1));
    let verdict: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(verdict["accept"], false);
    assert_eq!(verdict["reasons"].as_array().unwrap().len(), 3, "{verdict}");
    assert_eq!(verdict.as_object().unwrap().len(), 2, "{verdict}");
    let out = admit(&["--spec", good.path(), "--json"], &[], None);
    assert_eq!(out.code, Some(0));
    let verdict: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(verdict["accept"], true);
    assert!(verdict["reasons"][0]
        .as_str()
        .unwrap()
        .contains("no node policy"));

    // Without a node policy every valid spec is accepted, Host included.
    let out = admit(&["--spec", bad.path()], &[], None);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);

    // 2: bad input, of the job or of the policy.
    let invalid_job = Scratch::new(
        "invalid.yaml",
        "Tasks:\n  - Network: {Type: HTTP, Domains: ['x.com:443']}\n",
    );
    let typo = Scratch::new("typo.yaml", "types: [None]\ndeny_domain: [.example]\n");
    let bad_type = Scratch::new("type.yaml", "types: [None, tcp]\n");
    let missing = format!("{}.missing", policy.path());
    for args in [
        vec!["--spec", invalid_job.path(), "--node-policy", policy.path()],
        vec!["--spec", "/nonexistent/job.yaml"],
        vec!["--spec", good.path(), "--node-policy", typo.path()],
        vec!["--spec", good.path(), "--node-policy", bad_type.path()],
        vec!["--spec", good.path(), "--node-policy", &missing],
        vec!["--spec", good.path(), "--task", "nope"],
        vec!["--spec", good.path(), "--default-network", "bridge"],
    ] {
        let out = admit(&args, &[], None);
        assert_eq!(out.code, Some(2), "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.starts_with("enforcer: ") || out.stderr.contains("error"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    let out = admit(
        &["--spec", good.path(), "--node-policy", typo.path()],
        &[],
        None,
    );
    assert!(
        out.stderr.contains("unknown field `deny_domain`"),
        "{}",
        out.stderr
    );
}

#[test]
fn admit_reads_probe_data_from_the_environment() {
    let policy = Scratch::new("env-policy.yaml", POLICY);
    let ok = probe_data("api.github.com");
    let out = admit(&["--node-policy", policy.path()], &[(PROBE_ENV, &ok)], None);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let evil = probe_data("evil.example");
    let out = admit(
        &["--node-policy", policy.path()],
        &[(PROBE_ENV, &evil)],
        None,
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("evil.example"), "{}", out.stdout);

    // Bacalhau gives the probe both; the environment is read, stdin is not.
    let out = admit(
        &["--node-policy", policy.path()],
        &[(PROBE_ENV, &ok)],
        Some(&evil),
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    // --spec wins over the environment.
    let job = Scratch::new("env-job.json", &evil);
    let out = admit(
        &["--spec", job.path(), "--node-policy", policy.path()],
        &[(PROBE_ENV, &ok)],
        None,
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);

    // The older probe data: {node_id, job_id, spec: {Network}}, lowercase keys.
    let legacy = r#"{"node_id": "n", "job_id": "j", "spec": {"network": {"type": "Full"}}}"#;
    let out = admit(
        &["--node-policy", policy.path()],
        &[(PROBE_ENV, legacy)],
        None,
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("type Host is not accepted"),
        "{}",
        out.stdout
    );

    // Set but empty, or not a job: bad input.
    for data in ["", "not json or a job", r#"{"NodeID": "n"}"#] {
        let out = admit(
            &["--node-policy", policy.path()],
            &[(PROBE_ENV, data)],
            None,
        );
        assert_eq!(out.code, Some(2), "{data:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(PROBE_ENV), "{data:?}: {}", out.stderr);
    }
}

#[test]
fn admit_reads_stdin() {
    let policy = Scratch::new("stdin-policy.yaml", POLICY);
    let evil = probe_data("a.b.evil.example");
    // --spec - reads stdin, even when the environment has probe data.
    let out = admit(
        &["--spec", "-", "--node-policy", policy.path()],
        &[(PROBE_ENV, &probe_data("crates.io"))],
        Some(&evil),
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("a.b.evil.example"), "{}", out.stdout);
    // No --spec and no probe data in the environment: stdin, JSON or YAML.
    let out = admit(
        &["--node-policy", policy.path()],
        &[],
        Some(&probe_data("crates.io")),
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let out = admit(&["--node-policy", policy.path()], &[], Some(GOOD_JOB));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    // Nothing on stdin is bad input.
    let out = admit(&["--node-policy", policy.path()], &[], None);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("on stdin"), "{}", out.stderr);
}

#[test]
fn admit_resolves_type_default_as_run_does() {
    let policy = Scratch::new("default-policy.yaml", "types: [None, HTTP]\n");
    let job = r#"{"Tasks": [{"Name": "t"}]}"#;
    let out = admit(&["--node-policy", policy.path()], &[], Some(job));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let out = admit(
        &["--node-policy", policy.path(), "--default-network", "full"],
        &[],
        Some(job),
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Default means Full"), "{}", out.stdout);
    let out = admit(
        &["--node-policy", policy.path()],
        &[("ENFORCER_DEFAULT_NETWORK", "full")],
        Some(job),
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
}

#[test]
fn run_refuses_what_the_node_policy_does_not_admit() {
    let policy = Scratch::new("run-policy.yaml", POLICY);
    let marker = std::env::temp_dir().join(format!("marker-{}", std::process::id()));
    let touch = format!("touch {}", marker.display());
    let job = Scratch::new("run-job.json", BAD_JOB);
    let typo = Scratch::new("run-typo.yaml", "typs: [None]\n");
    for (flags, wanted) in [
        (
            vec![
                "--node-policy",
                policy.path(),
                "--network",
                "http",
                "--domain",
                "evil.example",
            ],
            "the node policy does not admit this task: domain evil.example is denied: node \
             policy deny_domains entry .example covers it",
        ),
        (
            vec!["--node-policy", policy.path(), "--network", "full"],
            "the node policy does not admit this task: type Host is not accepted",
        ),
        (
            vec![
                "--node-policy",
                policy.path(),
                "--spec",
                job.path(),
                "--task",
                "fetch",
            ],
            "deny_domains entry 10.0.0.0/8 covers it",
        ),
        (
            vec!["--node-policy", typo.path(), "--network", "none"],
            "unknown field `typs`",
        ),
    ] {
        let outcome = enforcer_run(&flags, &["sh", "-c", &touch]);
        assert_eq!(outcome.exit_code, Some(2), "{flags:?}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains(wanted),
            "{flags:?}: {}",
            outcome.stderr
        );
        assert!(!marker.exists(), "{flags:?} ran the task");
    }
}

#[test]
fn run_runs_what_the_node_policy_admits() {
    if !kernel_lab_available() {
        return;
    }
    let policy = Scratch::new("run-ok-policy.yaml", POLICY);
    let outcome = enforcer_run(
        &["--node-policy", policy.path(), "--network", "none"],
        &["true"],
    );
    assert_eq!(outcome.exit_code, Some(0), "{}", outcome.stderr);
}
