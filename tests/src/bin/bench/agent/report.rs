//! The agent section of the report: attach latency by tasks already enforced, the agent's
//! memory, what a connect costs with one task and with the fleet, the denial-event steps,
//! and the goals.

use std::time::Duration;

use super::{
    attach::{AttachLatency, FLEET_SIZE, POINTS, WINDOW},
    connect_cost::{ConnectCost, CostSample},
    events::{EventStep, HAMMERS, STEP_MS},
    AgentResults, AgentSettings, MEMORY_AT,
};
use crate::bench::summary::{quantile_us, Summary};

/// Attach p99 goal, in milliseconds.
const ATTACH_P99_MS: f64 = 10.0;
/// Agent RSS goal at [`MEMORY_AT`] tasks, in MB.
const RSS_MB: f64 = 50.0;
/// Largest change of the kernel time per connect that counts as none.
const UNCHANGED: f64 = 0.05;

const MB: f64 = 1024.0 * 1024.0;

fn ms(us: f64) -> f64 {
    us / 1000.0
}

/// p50, p99 and max of `latencies`, in ms; `None` without any.
fn quantiles_ms(latencies: &[Duration]) -> Option<(f64, f64, f64)> {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    (!sorted.is_empty()).then(|| {
        (
            ms(quantile_us(&sorted, 0.5)),
            ms(quantile_us(&sorted, 0.99)),
            ms(quantile_us(&sorted, 1.0)),
        )
    })
}

pub fn print(results: &AgentResults, settings: &AgentSettings, seconds: f64) {
    println!(
        "agent: a real `enforcer daemon`, one shared program set; tasks enforced through its API \
         (HTTP, two IP-literal domains, each in an empty cgroup of its own); {} rounds of 1 task \
         then {FLEET_SIZE}; took {seconds:.1} s",
        settings.reps
    );
    print_latency(&results.latency);
    print_memory(results);
    print_connect_cost(&results.cost, settings);
    print_events(&results.events);
}

fn print_latency(latency: &AttachLatency) {
    println!(
        "attach latency: AgentClient::enforce as the client sees it (connect to the socket, \
         request, the agent attaches the programs, fills the allowlist, starts the task's \
         resolver, answers), the {WINDOW} attaches made with N to N+{} tasks enforced, every round",
        WINDOW - 1
    );
    for (point, samples) in POINTS.iter().zip(&latency.attaches) {
        if let Some((p50, p99, max)) = quantiles_ms(samples) {
            println!(
                "  N = {point:>4}   p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   max {max:>6.2} ms   \
                 ({} attaches)",
                samples.len()
            );
        }
    }
    if let Some((p50, p99, max)) = quantiles_ms(&latency.releases) {
        println!(
            "  release    p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   max {max:>6.2} ms   ({} \
             releases, AgentClient::release)",
            latency.releases.len()
        );
    }
}

fn print_memory(results: &AgentResults) {
    println!(
        "agent memory: VmRSS of the daemon; kernel: the memlock of each map and program it holds \
         (/proc/<pid>/fdinfo, each once; without links and per-cgroup storage)"
    );
    for point in &results.memory {
        let m = &point.memory;
        println!(
            "  {:>5} tasks ({:<26})  RSS {:>6.1} MB   maps {:>6.1} MB ({})   programs {:>5.0} KB ({})",
            point.tasks,
            point.when,
            m.rss_bytes as f64 / MB,
            m.maps_bytes as f64 / MB,
            m.maps,
            m.programs_bytes as f64 / 1024.0,
            m.programs,
        );
    }
}

/// Each repetition's fleet value over its one-task value.
fn paired(cost: &ConnectCost, field: fn(&CostSample) -> f64) -> Summary {
    let ratios = cost.fleet.iter().zip(&cost.one);
    Summary::of(ratios.map(|(f, o)| field(f) / field(o)).collect())
}

const KERNEL_US: fn(&CostSample) -> f64 = CostSample::kernel_us_per_connect;
const RATE: fn(&CostSample) -> f64 = CostSample::connects_per_second;

fn print_connect_cost(cost: &ConnectCost, settings: &AgentSettings) {
    println!(
        "connect cost of the probe task (HTTP), 1 task vs {FLEET_SIZE} enforced: the connect \
         client for {} ms, then the agent's programs' run time (fdinfo run_time_ns) per connect",
        settings.duration_ms
    );
    println!(
        "  {:>5}   {:>20} {:>18} {:>12} {:>20}",
        "tasks", "kernel us/connect", "range", "runs/connect", "connects/s (range)"
    );
    for (tasks, samples) in [(1, &cost.one), (FLEET_SIZE, &cost.fleet)] {
        let kernel = Summary::of(samples.iter().map(KERNEL_US).collect());
        let rate = Summary::of(samples.iter().map(RATE).collect());
        let runs = Summary::of(samples.iter().map(CostSample::runs_per_connect).collect());
        println!(
            "  {tasks:>5}   {:>20.3} {:>18} {:>12.1} {:>20}",
            kernel.median,
            format!("{:.3}..{:.3}", kernel.min, kernel.max),
            runs.median,
            format!("{:.0} ({:.0}..{:.0})", rate.median, rate.min, rate.max),
        );
    }
    let kernel = paired(cost, KERNEL_US);
    let rate = paired(cost, RATE);
    println!(
        "  {FLEET_SIZE} vs 1, paired by round: kernel time {:.3}x ({:.3}..{:.3}x), connect rate \
         {:.3}x ({:.3}..{:.3}x)",
        kernel.median, kernel.min, kernel.max, rate.median, rate.min, rate.max
    );
}

fn print_events(steps: &[EventStep]) {
    println!(
        "denial events: refused connects from {HAMMERS} tasks in None mode at rising offered \
         rates, {STEP_MS} ms a step, read from /v1/events; lost: the tasks' events_lost (the \
         kernel's ring was full), the status's events_lost, and what the API dropped for the \
         reader (lagged)"
    );
    println!(
        "  {:>9} {:>11} {:>13} {:>19} {:>12} {:>12} {:>8}",
        "asked/s",
        "offered/s",
        "delivered/s",
        "delivered of made",
        "kernel lost",
        "status lost",
        "lagged"
    );
    for step in steps {
        let asked = match step.asked {
            0 => "max".to_string(),
            rate => rate.to_string(),
        };
        println!(
            "  {asked:>9} {:>11.0} {:>13.0} {:>19} {:>12} {:>12} {:>8}",
            step.offered_per_s,
            step.delivered_per_s,
            format!("{} of {}", step.delivered, step.made),
            step.kernel_lost,
            step.status_lost,
            step.lagged
        );
    }
}

/// The agent's goals; each line says PASS or MISS.
pub fn print_goals(results: &AgentResults) {
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!("goals, node agent");
    let p99s: Vec<(usize, f64)> = POINTS
        .iter()
        .zip(&results.latency.attaches)
        .filter_map(|(&point, samples)| Some((point, quantiles_ms(samples)?.1)))
        .collect();
    println!(
        "  {}  attach p99 <= {ATTACH_P99_MS:.0} ms         {}",
        verdict(p99s.iter().all(|&(_, p99)| p99 <= ATTACH_P99_MS)),
        p99s.iter()
            .map(|(point, p99)| format!("{p99:.2} ms with {point} enforced"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The largest of the growths: an agent that has seen churn counts.
    let at_goal = results.memory.iter().filter(|p| p.tasks == MEMORY_AT);
    let rss_at_goal = at_goal.map(|p| p.memory.rss_bytes as f64 / MB);
    if let Some(rss) = rss_at_goal.reduce(f64::max) {
        println!(
            "  {}  agent RSS <= {RSS_MB:.0} MB at {MEMORY_AT} tasks   {rss:.1} MB (the larger of \
             the first and last growth)",
            verdict(rss <= RSS_MB)
        );
    }
    let kernel = paired(&results.cost, KERNEL_US);
    println!(
        "  {}  kernel time per connect unchanged with {FLEET_SIZE} tasks (within {:.0}%)   \
         {:+.1}% (median of the paired ratios)",
        verdict((kernel.median - 1.0).abs() <= UNCHANGED),
        UNCHANGED * 100.0,
        (kernel.median - 1.0) * 100.0
    );
    let steps = &results.events;
    let best = steps.iter().filter(|s| s.lossless());
    let best = best.map(|s| s.delivered_per_s).fold(0.0, f64::max);
    let first_offered = |lost: fn(&EventStep) -> bool| {
        steps.iter().find(|s| lost(s)).map_or_else(
            || "never".to_string(),
            |s| format!("at {:.0}/s offered", s.offered_per_s),
        )
    };
    println!(
        "  (no goal) denial events: {best:.0}/s delivered without loss; the kernel lost events \
         first {}, the API for the reader {} (up to {:.0}/s offered)",
        first_offered(|s| s.kernel_lost > 0),
        first_offered(|s| s.lagged > 0),
        steps.iter().map(|s| s.offered_per_s).fold(0.0, f64::max),
    );
}
