//! The run: build the lab and the conditions, measure every metric under every condition
//! in each repetition (with the programs' run-time statistics on), then remove everything
//! and print the report.

use std::{path::Path, process::Command, time::Instant};

use anyhow::{bail, Context};

use super::{
    client::{Kind, Sample},
    conditions::{Condition, Tasks, HTTP_ALLOWLIST_LEN},
    cpu, interrupt,
    kernel_time::{self, KernelTime},
    lab::{Lab, SERVER},
    report::{self, Results},
};

pub fn run(reps: u32, duration_ms: u64, cpu: Option<usize>) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("must run as root: it creates network namespaces, cgroups and eBPF programs");
    }
    let started = Instant::now();
    interrupt::install();
    let exe = std::env::current_exe().context("finding this binary")?;
    let cpu = match cpu {
        Some(cpu) => cpu,
        None => cpu::default_cpu().context("reading this process's CPU affinity")?,
    };
    // Kept open until the run ends: the kernel keeps the statistics only meanwhile.
    let _stats = kernel_time::enable()?;
    let lab = Lab::create(&exe, cpu).context("creating the lab")?;
    let tasks = Tasks::create(SERVER.ip()).context("setting up the conditions")?;
    println!(
        "enforcer-bench: {reps} reps x {duration_ms} ms per measurement; client in a task \
         cgroup, server {SERVER} over a 1500-MTU veth, both on CPU {cpu}; http allows \
         {HTTP_ALLOWLIST_LEN} addresses"
    );
    let mut results = Results::default();
    let mut kernel = KernelTime::default();
    for rep in 0..reps {
        // Each metric is taken under all conditions back to back, in an order rotated per
        // repetition, so slow drift (caches, CPU clocks) affects every condition alike.
        let mut order = Condition::ALL;
        order.rotate_left(rep as usize % Condition::ALL.len());
        for kind in Kind::ALL {
            for condition in order {
                let before = tasks.program_stats(condition)?;
                let sample = measure(&exe, kind, tasks.cgroup(condition), duration_ms, cpu);
                interrupt::check()?;
                let sample = sample?;
                let after = tasks.program_stats(condition)?;
                results.add(kind, condition, sample.per_second);
                kernel.add(kind, condition, &sample, &before, &after);
            }
        }
        eprintln!("enforcer-bench: repetition {}/{reps} done", rep + 1);
    }
    let counters: Vec<_> = Condition::ALL
        .into_iter()
        .map(|condition| Ok((condition, tasks.counters(condition)?)))
        .collect::<anyhow::Result<_>>()?;
    tasks.close()?;
    lab.close()?;

    println!();
    report::print_table(&results);
    println!();
    report::print_kernel_time_notes(&kernel);
    for condition in [Condition::Full, Condition::Http] {
        report::print_kernel_time(&kernel, condition);
    }
    println!();
    report::print_goals(&results, &kernel);
    println!();
    for (condition, counters) in counters {
        if let Some(counters) = counters {
            report::print_counters(condition, &counters);
        }
    }
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs one client confined in `cgroup` and reads its result.
fn measure(
    exe: &Path,
    kind: Kind,
    cgroup: &Path,
    duration_ms: u64,
    cpu: usize,
) -> anyhow::Result<Sample> {
    let mut client = Command::new(exe);
    client
        .args(["client", "--kind", kind.arg()])
        .args(["--addr", &SERVER.ip().to_string()])
        .args(["--port", &SERVER.port().to_string()])
        .args(["--duration-ms", &duration_ms.to_string()])
        .args(["--cpu", &cpu.to_string()]);
    enforcer::sandbox::confine(&mut client, cgroup, None)?;
    let output = client.output().context("starting the client")?;
    if !output.status.success() {
        bail!(
            "{} client in {} failed ({}): {}",
            kind.arg(),
            cgroup.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "reading the client's result {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
