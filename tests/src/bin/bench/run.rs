//! The run: build the lab and the conditions, measure every metric under every condition
//! in each repetition (with the programs' run-time statistics on), then the DNS
//! measurements, then the node agent's, then remove everything and print the report.

use std::{path::Path, time::Instant};

use anyhow::{bail, Context};

use super::{
    agent::{self, AgentSettings},
    child,
    client::{Kind, Sample},
    conditions::{Condition, Tasks, HTTP_ALLOWLIST_LEN},
    cpu,
    dns::{
        self,
        measure::{DnsBench, DnsSettings},
        resolvers::Resolvers,
    },
    interrupt,
    kernel_time::{self, KernelTime},
    lab::{Lab, SERVER},
    report::{self, Results},
};

pub fn run(
    reps: u32,
    duration_ms: u64,
    cpu: Option<usize>,
    dns_settings: DnsSettings,
    agent_reps: u32,
) -> anyhow::Result<()> {
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
    let mut dns_bench = DnsBench::new(&exe, cpu, dns_settings, reps)?;
    // Kept open until the run ends: the kernel keeps the statistics only meanwhile.
    let _stats = kernel_time::enable()?;
    let lab = Lab::create(&exe, cpu).context("creating the lab")?;
    let tasks = Tasks::create(SERVER.ip()).context("setting up the conditions")?;
    let resolvers = Resolvers::start(&tasks, cpu).context("starting the task resolvers")?;
    println!(
        "enforcer-bench: {reps} reps x {duration_ms} ms per measurement; client in a task \
         cgroup, server {SERVER} over a 1500-MTU veth, both on CPU {cpu} (as are the task \
         resolvers); http allows {HTTP_ALLOWLIST_LEN} addresses"
    );
    let mut results = Results::default();
    let mut kernel = KernelTime::default();
    for rep in 0..reps {
        // Each metric is taken under all conditions back to back, in an order rotated per
        // repetition, so slow drift (caches, CPU clocks) affects every condition alike.
        let mut order = Condition::RATES;
        order.rotate_left(rep as usize % Condition::RATES.len());
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
        dns_bench.rep(&tasks, rep)?;
        eprintln!("enforcer-bench: repetition {}/{reps} done", rep + 1);
    }
    let resolver_reports = resolvers.stop()?;
    let counters: Vec<_> = Condition::RATES
        .into_iter()
        .chain(Condition::DNS)
        .map(|condition| Ok((condition, tasks.counters(condition)?)))
        .collect::<anyhow::Result<_>>()?;
    tasks.close()?;
    // With the lab: the agent's tasks connect to its server.
    let agent_settings = AgentSettings {
        reps: agent_reps,
        duration_ms,
        cpu,
    };
    let agent_started = Instant::now();
    let agent_results = agent::measure(&exe, &agent_settings).context("the node agent")?;
    let agent_seconds = agent_started.elapsed().as_secs_f64();
    lab.close()?;

    println!();
    report::print_table(&results);
    println!();
    report::print_kernel_time_notes(&kernel);
    for condition in [Condition::Full, Condition::Http] {
        report::print_kernel_time(&kernel, condition);
    }
    println!();
    dns::report::print_table(dns_bench.results(), dns_bench.settings());
    dns::report::print_resolvers(&resolver_reports);
    dns::report::print_first_connects(dns_bench.results());
    println!();
    agent::report::print(&agent_results, &agent_settings, agent_seconds);
    println!();
    report::print_goals(&results, &kernel);
    dns::report::print_goals(dns_bench.results());
    agent::report::print_goals(&agent_results);
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
pub fn measure(
    exe: &Path,
    kind: Kind,
    cgroup: &Path,
    duration_ms: u64,
    cpu: usize,
) -> anyhow::Result<Sample> {
    let args = [
        "client".to_string(),
        format!("--kind={}", kind.arg()),
        format!("--addr={}", SERVER.ip()),
        format!("--port={}", SERVER.port()),
        format!("--duration-ms={duration_ms}"),
        format!("--cpu={cpu}"),
    ];
    child::run(exe, &args, cgroup)
}
