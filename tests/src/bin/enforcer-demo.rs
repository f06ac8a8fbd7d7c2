//! `cargo xtask demo`: builds a lab of network namespaces and runs real tasks through
//! `enforcer run` under None, Full and HTTP, then through the node agent, printing what was
//! allowed and refused.

#[path = "demo/agent.rs"]
mod agent;

use anyhow::{bail, Result};
use enforcer_tests::{
    kernel_lab_available, probe_bin,
    task::{enforcer_run, http_name_flags, TaskOutcome},
    Lab,
};

/// One task to run: a label, the enforcer flags, and the task's command.
struct Scenario {
    label: String,
    flags: Vec<String>,
    task: Vec<String>,
}

fn main() -> Result<()> {
    if !kernel_lab_available() {
        bail!("the demo needs root (it creates network namespaces and loads eBPF)");
    }
    let lab = Lab::start()?;
    println!(
        "lab {}: files.lab.test = {} / {}, mirror.lab.test = {}, blocked.lab.test = {}, DNS at {}\n",
        lab.netns(),
        lab.host(0),
        lab.host6(0),
        lab.host(1),
        lab.host(2),
        lab.dns()
    );
    let mut failures = 0;
    for scenario in scenarios(&lab) {
        let flags: Vec<&str> = scenario.flags.iter().map(String::as_str).collect();
        let task: Vec<&str> = scenario.task.iter().map(String::as_str).collect();
        let outcome = enforcer_run(&flags, &task);
        println!(
            "$ enforcer run {} -- {}",
            scenario.flags.join(" "),
            short_task(&scenario.task)
        );
        println!("  {:<44} {}", scenario.label, verdict(&outcome));
        if outcome.exit_code == Some(125) {
            failures += 1;
            eprintln!("{}", outcome.stderr);
        }
    }
    if failures > 0 {
        bail!("{failures} task(s) could not be enforced");
    }
    agent::run(&lab)
}

fn scenarios(lab: &Lab) -> Vec<Scenario> {
    let probe = probe_bin().display().to_string();
    let files = lab.host(0).to_string();
    let blocked = lab.host(2).to_string();
    let dns = lab.dns().to_string();
    let nowhere = format!("10.213.{}.99", lab.index());
    let http = http_name_flags(lab, &["files.lab.test", ".mirror.lab.test"], &[]);
    let none = vec!["--network".to_string(), "none".into()];
    let full = vec!["--network".to_string(), "full".into()];
    let probe_task = |label: &str, flags: &[String], args: &[&str]| Scenario {
        label: label.to_string(),
        flags: flags.to_vec(),
        task: std::iter::once(probe.clone())
            .chain(args.iter().map(|a| a.to_string()))
            .collect(),
    };
    let curl = |label: &str, flags: &[String], url_host: &str, ip: &str, port: &str| Scenario {
        label: label.to_string(),
        flags: flags.to_vec(),
        task: [
            "curl",
            "-sS",
            "-m",
            "3",
            "-o",
            "/dev/null",
            "-w",
            "HTTP %{http_code}",
            "--resolve",
            &format!("{url_host}:{port}:{ip}"),
            &format!("http://{url_host}:{port}/"),
        ]
        .map(String::from)
        .to_vec(),
    };
    vec![
        curl(
            "None: curl files.lab.test",
            &none,
            "files.lab.test",
            &files,
            "80",
        ),
        probe_task(
            "None: UDP to the lab's echo server",
            &none,
            &["udp", &files, "9000"],
        ),
        probe_task(
            "None: DNS to the lab resolver",
            &none,
            &["dns", &dns, "files.lab.test"],
        ),
        curl(
            "Full: curl files.lab.test",
            &full,
            "files.lab.test",
            &files,
            "80",
        ),
        probe_task(
            "Full: TCP to blocked.lab.test:8080",
            &full,
            &["tcp", &blocked, "8080"],
        ),
        probe_task(
            "HTTP: DNS files.lab.test, aimed anywhere",
            &http,
            &["dns", &nowhere, "files.lab.test", "--show-source"],
        ),
        probe_task(
            "HTTP: look files.lab.test up, then GET",
            &http,
            &["fetch", &dns, "files.lab.test"],
        ),
        probe_task(
            "HTTP: ... and over IPv6, port 443",
            &http,
            &[
                "fetch",
                &dns,
                "files.lab.test",
                "--qtype",
                "AAAA",
                "--port",
                "443",
            ],
        ),
        probe_task(
            "HTTP: ... and port 8080",
            &http,
            &["fetch", &dns, "files.lab.test", "--port", "8080"],
        ),
        probe_task(
            "HTTP: TCP to files.lab.test, no lookup",
            &http,
            &["tcp", &files, "80"],
        ),
        probe_task(
            "HTTP: DNS blocked.lab.test (not listed)",
            &http,
            &["dns", &dns, "blocked.lab.test"],
        ),
        probe_task(
            "HTTP: TXT query (data out through DNS)",
            &http,
            &["dns", &dns, "c2VjcmV0.files.lab.test", "--qtype", "TXT"],
        ),
        probe_task(
            "HTTP: UDP to files.lab.test:9000",
            &http,
            &["udp", &files, "9000"],
        ),
        probe_task("HTTP: raw socket", &http, &["raw", "4"]),
        probe_task(
            "None: vsock socket (the hypervisor host)",
            &none,
            &["socket", "40", "1"],
        ),
        probe_task("HTTP: io_uring ring", &http, &["io-uring-setup"]),
    ]
}

fn short_task(task: &[String]) -> String {
    let mut words = task.to_vec();
    if let Some(first) = words.first_mut() {
        if first.ends_with("enforcer-probe") {
            *first = "enforcer-probe".into();
        }
    }
    words.join(" ")
}

/// "allowed (...)" or "REFUSED (reason, destination)".
fn verdict(outcome: &TaskOutcome) -> String {
    let detail = outcome
        .stdout
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string();
    if let Some(d) = outcome.denials.iter().find(|d| d.hook == "dns") {
        return format!(
            "REFUSED   {} {} {} (the task's resolver)",
            d.reason,
            d.qtype.as_deref().unwrap_or("-"),
            d.name.as_deref().unwrap_or("-"),
        );
    }
    if outcome.exit_code == Some(0) {
        let reply = serde_json::from_str::<serde_json::Value>(&detail)
            .ok()
            .and_then(|v| v.get("reply").and_then(|r| r.as_str()).map(str::to_string))
            .unwrap_or(detail);
        return format!("allowed   {}", reply.trim());
    }
    match outcome.denials.first() {
        Some(d) => format!(
            "REFUSED   {} {} {} (hook {}, pid {}, {})",
            d.reason,
            d.protocol,
            d.destination,
            d.hook,
            d.pid.map_or("-".into(), |p| p.to_string()),
            d.comm.as_deref().unwrap_or("-")
        ),
        // No kernel event: refused before the hooks, by the capabilities the task lacks.
        None => {
            let error = serde_json::from_str::<serde_json::Value>(&detail)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or(detail);
            format!("REFUSED   {error} (the task has no capabilities)")
        }
    }
}
