//! The demo's second part: the node agent enforcing cgroups it did not make (as a container
//! runtime makes them), through its CLI, and keeping them enforced through `kill -9`.

use anyhow::{bail, Context, Result};
use enforcer_tests::{
    agent::{TestAgent, TestCgroup},
    Lab, ProbeResult,
};

pub fn run(lab: &Lab) -> Result<()> {
    println!(
        "\n$ enforcer daemon --config agent.yaml     (the node agent, on a socket of its own)"
    );
    let mut agent = TestAgent::start("demo", lab)?;
    let none = TestCgroup::create("demo-none")?;
    let http = TestCgroup::create("demo-http")?;
    let _processes = [none.spawn_idle(), http.spawn_idle()];
    attach(&agent, "job-none", &none, &["--network", "none"])?;
    attach(
        &agent,
        "job-http",
        &http,
        &["--network", "http", "--domain", "files.lab.test"],
    )?;
    let (files, mirror, dns) = (
        lab.host(0).to_string(),
        lab.host(1).to_string(),
        lab.dns().to_string(),
    );
    let checks = |when: &str| {
        show(
            when,
            "job-none: TCP to files.lab.test",
            &none.probe(&["tcp", &files, "80"]),
        );
        show(
            when,
            "job-http: look files.lab.test up, GET",
            &http.probe(&["fetch", &dns, "files.lab.test"]),
        );
        show(
            when,
            "job-http: TCP to mirror.lab.test",
            &http.probe(&["tcp", &mirror, "80"]),
        );
    };
    checks("agent up");
    println!("$ kill -9 <agent>");
    agent.kill9();
    show(
        "agent down",
        "job-none: TCP to files.lab.test",
        &none.probe(&["tcp", &files, "80"]),
    );
    show(
        "agent down",
        "job-http: TCP to files.lab.test",
        &http.probe(&["tcp", &files, "80"]),
    );
    show(
        "agent down",
        "job-http: a new lookup",
        &http.probe(&["dns", &dns, "files.lab.test", "--timeout-ms", "500"]),
    );
    println!("$ enforcer daemon --config agent.yaml     (started again: takes its tasks over)");
    agent.restart()?;
    checks("agent back");
    let list = agent.cli(&["list"]);
    println!(
        "$ enforcer list\n{}",
        String::from_utf8_lossy(&list.stdout).trim_end()
    );
    Ok(())
}

fn attach(agent: &TestAgent, id: &str, cgroup: &TestCgroup, network: &[&str]) -> Result<()> {
    let path = cgroup.path().display().to_string();
    let mut args = vec!["attach", "--id", id, "--cgroup", &path];
    args.extend_from_slice(network);
    println!("$ enforcer {}", args.join(" "));
    let output = agent.cli(&args);
    if !output.status.success() {
        bail!("attach {id}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let said = String::from_utf8(output.stdout).context("attach's output")?;
    println!("  {}", said.trim_end());
    Ok(())
}

fn show(when: &str, label: &str, result: &ProbeResult) {
    let verdict = if result.ok {
        format!("allowed   {}", result.reply.as_deref().unwrap_or("").trim())
    } else {
        format!("REFUSED   {}", result.error.as_deref().unwrap_or("-"))
    };
    println!("  [{when:<10}] {label:<40} {verdict}");
}
