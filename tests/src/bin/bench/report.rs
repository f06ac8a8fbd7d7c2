//! The report: the rates table (medians, and ratios to the baseline of the same
//! repetition), the programs' kernel time, and the project's goals.

use std::collections::HashMap;

use enforcer_common::Counter;

use super::{
    client::Kind,
    conditions::Condition,
    kernel_time::{self, KernelTime},
    summary::Summary,
};

/// Every measured rate, per metric and condition, in repetition order: the i-th rate of
/// every condition comes from repetition i, so the conditions' rates pair up.
#[derive(Default)]
pub struct Results {
    per_second: HashMap<(Kind, Condition), Vec<f64>>,
}

impl Results {
    pub fn add(&mut self, kind: Kind, condition: Condition, per_second: f64) {
        self.per_second
            .entry((kind, condition))
            .or_default()
            .push(per_second);
    }

    /// The rates of `metric` under `condition`, converted to its unit, in repetition order.
    fn values(&self, metric: &Metric, condition: Condition) -> Vec<f64> {
        self.per_second[&(metric.kind, condition)]
            .iter()
            .map(|&v| (metric.unit)(v))
            .collect()
    }

    fn stats(&self, metric: &Metric, condition: Condition) -> Summary {
        Summary::of(self.values(metric, condition))
    }

    /// Each repetition's value compared with the baseline of the same repetition, taken
    /// seconds apart: the VM's slow swings, which move all conditions alike, cancel out.
    fn paired(&self, metric: &Metric, condition: Condition) -> Summary {
        let baseline = self.values(metric, Condition::Baseline);
        let values = self.values(metric, condition);
        let compared = values.iter().zip(&baseline);
        Summary::of(compared.map(|(&v, &b)| metric.compare(v, b)).collect())
    }
}

/// One row group of the table.
struct Metric {
    title: &'static str,
    kind: Kind,
    unit: fn(f64) -> f64,
    decimals: usize,
    /// Lower is better: compared to baseline as a difference in microseconds.
    is_latency: bool,
}

impl Metric {
    /// `value` against baseline's: a difference for a latency, else a ratio.
    fn compare(&self, value: f64, baseline: f64) -> f64 {
        if self.is_latency {
            value - baseline
        } else {
            value / baseline
        }
    }

    fn versus(&self, compared: f64) -> String {
        if self.is_latency {
            format!("{compared:+.2} us")
        } else {
            format!("{compared:.3}x")
        }
    }

    fn range(&self, compared: &Summary) -> String {
        if self.is_latency {
            format!("{:+.2}..{:+.2} us", compared.min, compared.max)
        } else {
            format!("{:.3}..{:.3}x", compared.min, compared.max)
        }
    }
}

const BULK: Metric = Metric {
    title: "TCP bulk (Gbit/s)",
    kind: Kind::Bulk,
    unit: |bytes| bytes * 8.0 / 1e9,
    decimals: 2,
    is_latency: false,
};
const CONNECT_RATE: Metric = Metric {
    title: "connect (connects/s)",
    kind: Kind::Connect,
    unit: |rate| rate,
    decimals: 0,
    is_latency: false,
};
const CONNECT_TIME: Metric = Metric {
    title: "connect (us/connect)",
    kind: Kind::Connect,
    unit: |rate| 1e6 / rate,
    decimals: 2,
    is_latency: true,
};
const PING_PONG: Metric = Metric {
    title: "ping-pong (round trips/s)",
    kind: Kind::Pingpong,
    unit: |rate| rate,
    decimals: 0,
    is_latency: false,
};
const METRICS: [&Metric; 4] = [&BULK, &CONNECT_RATE, &CONNECT_TIME, &PING_PONG];

pub fn print_table(results: &Results) {
    println!(
        "{:<26} {:<9} {:>10} {:>12} {:>12} {:>18} {:>8}",
        "metric", "condition", "median", "vs baseline", "paired", "paired range", "spread"
    );
    for metric in METRICS {
        let baseline = results.stats(metric, Condition::Baseline);
        for (i, condition) in Condition::RATES.into_iter().enumerate() {
            let stats = results.stats(metric, condition);
            let versus = metric.versus(metric.compare(stats.median, baseline.median));
            let (paired, range) = match condition {
                Condition::Baseline => (String::new(), String::new()),
                _ => {
                    let paired = results.paired(metric, condition);
                    (metric.versus(paired.median), metric.range(&paired))
                }
            };
            // (max - min) / median: how far apart the repetitions were.
            let spread = (stats.max - stats.min) / stats.median * 100.0;
            println!(
                "{:<26} {:<9} {:>10.*} {:>12} {:>12} {:>18} {:>7.1}%",
                if i == 0 { metric.title } else { "" },
                condition.name(),
                metric.decimals,
                stats.median,
                versus,
                paired,
                range,
                spread,
            );
        }
    }
    println!(
        "vs baseline: of the medians; paired: median over repetitions of the ratio to (or \
         difference from) the same repetition's baseline; spread: (max - min) / median"
    );
}

/// Per program of an enforced condition: runs and average run time under each metric,
/// then what that comes to per connect and per bulk packet.
pub fn print_kernel_time(kernel: &KernelTime, condition: Condition) {
    print!("{:<18}", format!("kernel time, {}", condition.name()));
    for kind in Kind::ALL {
        print!("{:>14} {:>8}", format!("{} runs", kind.arg()), "ns/run");
    }
    println!();
    let by_kind = Kind::ALL.map(|kind| kernel.programs(kind, condition));
    for (i, program) in by_kind[0].iter().enumerate() {
        print!("  {:<16}", program.name);
        for programs in &by_kind {
            let program = &programs[i];
            let ns = kernel_time::ns_per_run(program).map_or("-".into(), |ns| format!("{ns:.1}"));
            print!("{:>14} {:>8}", program.run_count, ns);
        }
        println!();
    }
    let by_rep = Summary::of(kernel.per_connect_by_rep(condition));
    println!(
        "  per connect: {:.3} us of program time in {:.1} runs ({:.3}..{:.3} us by \
         repetition), over {} connects",
        kernel.per_connect(condition),
        kernel.runs_per_connect(condition),
        by_rep.min,
        by_rep.max,
        kernel.connects(condition),
    );
    print_egress_in_bulk(kernel, condition);
}

fn print_egress_in_bulk(kernel: &KernelTime, condition: Condition) {
    let programs = kernel.programs(Kind::Bulk, condition);
    let Some(egress) = programs.iter().find(|p| p.name == "egress") else {
        return;
    };
    let Some(ns) = kernel_time::ns_per_run(egress) else {
        return;
    };
    println!(
        "  per packet, egress during bulk: {ns:.1} ns over {} packets (GSO packets, up to \
         64 KB); all programs took {:.2}% of the bulk's time",
        egress.run_count,
        kernel.bulk_share(condition) * 100.0,
    );
}

/// What the kernel time is, and what measuring it costs.
pub fn print_kernel_time_notes(kernel: &KernelTime) {
    println!(
        "kernel time: the programs' own run time from the kernel's BPF run-time statistics, \
         without the hooks' dispatch around them"
    );
    let floor = measurement_floor_ns(kernel);
    println!(
        "note: the statistics stay on for the whole run and add two clock reads to every \
         program run, slowing full and http a little; they also inflate every ns/run: full's \
         sock_create, which returns at once, reads {floor:.0} ns/run"
    );
}

/// What one program run costs the statistics themselves: full's sock_create returns at
/// once, so its whole measured run time is the clock reads around it (an upper bound).
fn measurement_floor_ns(kernel: &KernelTime) -> f64 {
    let full = kernel.programs(Kind::Connect, Condition::Full);
    let empty = full.iter().find(|p| p.name == "sock_create");
    empty.and_then(kernel_time::ns_per_run).unwrap_or(0.0)
}

/// The project's goals for HTTP mode; each line says PASS or MISS.
pub fn print_goals(results: &Results, kernel: &KernelTime) {
    let kept = |metric| results.paired(metric, Condition::Http);
    let throughput = kept(&BULK);
    let connect_rate = kept(&CONNECT_RATE);
    let added_wall = results.paired(&CONNECT_TIME, Condition::Http);
    let added_kernel = kernel.per_connect(Condition::Http);
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let percent = |s: &Summary| {
        format!(
            "{:.1}%  ({:.1}..{:.1}% by repetition)",
            s.median * 100.0,
            s.min * 100.0,
            s.max * 100.0
        )
    };
    println!(
        "goals, http vs baseline (rates: median of the paired ratios; added per connect: \
         kernel time)"
    );
    println!(
        "  {}  throughput kept >= 97%      {}",
        verdict(throughput.median >= 0.97),
        percent(&throughput)
    );
    println!(
        "  {}  connect rate kept >= 97%    {}",
        verdict(connect_rate.median >= 0.97),
        percent(&connect_rate)
    );
    // Net of the statistics' own cost: every run carries the floor an empty program shows.
    let floor_us = measurement_floor_ns(kernel) / 1000.0;
    let added_net = added_kernel - kernel.runs_per_connect(Condition::Http) * floor_us;
    println!(
        "  {}  added per connect <= 1 us   {added_net:.3} us  judged on kernel time net of the \
         statistics' cost: http's programs per connect ({added_kernel:.3} us measured) less \
         {:.1} runs x {:.0} ns (an empty program's measured run)",
        verdict(added_net <= 1.0),
        kernel.runs_per_connect(Condition::Http),
        floor_us * 1000.0,
    );
    println!(
        "        for reference, wall clock: {:+.2} us paired ({})",
        added_wall.median,
        CONNECT_TIME.range(&added_wall)
    );
}

/// What the kernel programs counted: proof that the enforced conditions were enforced.
pub fn print_counters(condition: Condition, counters: &[(Counter, u64)]) {
    let shown: Vec<String> = counters
        .iter()
        .filter(|(_, value)| *value > 0)
        .map(|(counter, value)| format!("{}={value}", counter.as_str()))
        .collect();
    println!("kernel counters, {}: {}", condition.name(), shown.join(" "));
}
