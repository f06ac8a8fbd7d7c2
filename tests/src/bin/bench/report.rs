//! The results table (medians, ratios to baseline, spread) and the project's goals.

use std::collections::HashMap;

use enforcer_common::Counter;

use super::{client::Kind, conditions::Condition};

/// Every measured rate, per metric and condition, in run order.
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

    /// Median, min and max of the samples, each converted by `unit`.
    fn stats(&self, kind: Kind, condition: Condition, unit: fn(f64) -> f64) -> Stats {
        let mut values: Vec<f64> = self.per_second[&(kind, condition)]
            .iter()
            .map(|&v| unit(v))
            .collect();
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Stats {
            median,
            min: values[0],
            max: values[n - 1],
        }
    }
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
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

const METRICS: [Metric; 4] = [
    Metric {
        title: "TCP bulk (Gbit/s)",
        kind: Kind::Bulk,
        unit: |bytes| bytes * 8.0 / 1e9,
        decimals: 2,
        is_latency: false,
    },
    Metric {
        title: "connect (connects/s)",
        kind: Kind::Connect,
        unit: |rate| rate,
        decimals: 0,
        is_latency: false,
    },
    Metric {
        title: "connect (us/connect)",
        kind: Kind::Connect,
        unit: |rate| 1e6 / rate,
        decimals: 2,
        is_latency: true,
    },
    Metric {
        title: "ping-pong (round trips/s)",
        kind: Kind::Pingpong,
        unit: |rate| rate,
        decimals: 0,
        is_latency: false,
    },
];

pub fn print_table(results: &Results) {
    println!(
        "{:<26} {:<9} {:>10} {:>12} {:>8}",
        "metric", "condition", "median", "vs baseline", "spread"
    );
    for metric in &METRICS {
        let baseline = results.stats(metric.kind, Condition::Baseline, metric.unit);
        for (i, condition) in Condition::ALL.into_iter().enumerate() {
            let stats = results.stats(metric.kind, condition, metric.unit);
            let versus = if metric.is_latency {
                format!("{:+.2} us", stats.median - baseline.median)
            } else {
                format!("{:.3}x", stats.median / baseline.median)
            };
            // (max - min) / median: how far apart the repetitions were.
            let spread = (stats.max - stats.min) / stats.median * 100.0;
            println!(
                "{:<26} {:<9} {:>10.*} {:>12} {:>7.1}%",
                if i == 0 { metric.title } else { "" },
                condition.name(),
                metric.decimals,
                stats.median,
                versus,
                spread,
            );
        }
    }
}

/// The project's goals for HTTP mode; each line says PASS or MISS.
pub fn print_goals(results: &Results) {
    let median = |kind, condition, unit| results.stats(kind, condition, unit).median;
    let kept = |kind| {
        median(kind, Condition::Http, |v| v) / median(kind, Condition::Baseline, |v| v) * 100.0
    };
    let us_per_connect = |condition| median(Kind::Connect, condition, |rate| 1e6 / rate);
    let throughput = kept(Kind::Bulk);
    let connect_rate = kept(Kind::Connect);
    let added_us = us_per_connect(Condition::Http) - us_per_connect(Condition::Baseline);
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!("goals, http vs baseline (medians):");
    println!(
        "  {}  throughput kept >= 97%      {throughput:.1}%",
        verdict(throughput >= 97.0)
    );
    println!(
        "  {}  connect rate kept >= 97%    {connect_rate:.1}%",
        verdict(connect_rate >= 97.0)
    );
    println!(
        "  {}  added per connect <= 1 us   {added_us:+.2} us",
        verdict(added_us <= 1.0)
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
