//! The agent's Prometheus metrics: per-task counters read from the tasks at each scrape, and
//! the resolvers' answer latency, kept for the agent's lifetime.

use std::time::Duration;

use prometheus_client::{
    encoding::{prometheus_text, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use super::api::{AgentStatus, TaskView};

/// The `Content-Type` of [`Metrics::render`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the DNS latency buckets, in seconds: 50 µs to 1 s.
const DNS_LATENCY_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// A per-task counter family split by verdict, and the [`TaskView::counters`] behind each
/// verdict. (The encoder appends `_total` to counter names.)
struct VerdictCounter {
    name: &'static str,
    help: &'static str,
    verdicts: [(&'static str, &'static str); 2],
}

/// Every per-task counter family, in the order they are rendered.
const VERDICT_COUNTERS: [VerdictCounter; 4] = [
    VerdictCounter {
        name: "enforcer_connects",
        help: "connect() calls of the task's processes, by verdict",
        verdicts: [
            ("allowed", "connect_allowed"),
            ("refused", "connect_denied"),
        ],
    },
    VerdictCounter {
        name: "enforcer_sendmsgs",
        help: "Unconnected sendmsg() calls of the task's processes, by verdict",
        verdicts: [
            ("allowed", "sendmsg_allowed"),
            ("refused", "sendmsg_denied"),
        ],
    },
    VerdictCounter {
        name: "enforcer_packets",
        help: "Packets the task sent, by verdict",
        verdicts: [
            ("allowed", "packets_allowed"),
            ("refused", "packets_denied"),
        ],
    },
    VerdictCounter {
        name: "enforcer_dns_answers",
        help: "DNS queries the task's resolver answered or refused",
        verdicts: [("answered", "dns_answered"), ("refused", "dns_refused")],
    },
];

/// The per-task allowlist gauge and the [`TaskView::counters`] entry behind it.
const ALLOWLIST_ENTRIES: (&str, &str) = ("enforcer_allowlist_entries", "allowlist_entries");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    task: String,
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
}

/// The agent's metrics. Per-task families are rebuilt from the tasks at each
/// [`render`](Metrics::render), since tasks come and go; the DNS latency histogram lives as
/// long as this value.
#[derive(Debug)]
pub struct Metrics {
    dns_answer_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            dns_answer_seconds: Histogram::new(DNS_LATENCY_BUCKETS),
        }
    }

    /// Records how long a resolver took to answer a task's query.
    pub fn observe_dns_latency(&self, latency: Duration) {
        self.dns_answer_seconds.observe(latency.as_secs_f64());
    }

    /// The metrics of `tasks` and the agent in Prometheus text format ([`CONTENT_TYPE`]). A
    /// counter missing from a task's [`TaskView::counters`] is 0.
    pub fn render(&self, tasks: &[TaskView], status: &AgentStatus) -> String {
        let mut registry = Registry::default();
        for family in &VERDICT_COUNTERS {
            registry.register(family.name, family.help, verdict_family(family, tasks));
        }
        registry.register(
            ALLOWLIST_ENTRIES.0,
            "Addresses and networks in the task's allowlists",
            allowlist_family(tasks),
        );
        let task_count = Gauge::<i64>::default();
        task_count.set(saturating_i64(tasks.len() as u64));
        registry.register("enforcer_tasks", "Tasks this agent enforces", task_count);
        let events_lost = Counter::<u64>::default();
        events_lost.inc_by(status.events_lost);
        registry.register(
            "enforcer_events_lost",
            "Denial events the kernel could not queue",
            events_lost,
        );
        registry.register(
            "enforcer_dns_answer_seconds",
            "Time the task resolvers took to answer a query",
            self.dns_answer_seconds.clone(),
        );
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).expect("writing to a String does not fail");
        text
    }
}

fn verdict_family(
    family: &VerdictCounter,
    tasks: &[TaskView],
) -> Family<VerdictLabels, Counter<u64>> {
    let counters = Family::<VerdictLabels, Counter<u64>>::default();
    for task in tasks {
        for (verdict, counter) in family.verdicts {
            let labels = VerdictLabels {
                task: task.id.clone(),
                verdict,
            };
            counters
                .get_or_create(&labels)
                .inc_by(counter_of(task, counter));
        }
    }
    counters
}

fn allowlist_family(tasks: &[TaskView]) -> Family<TaskLabels, Gauge<i64>> {
    let gauges = Family::<TaskLabels, Gauge<i64>>::default();
    for task in tasks {
        let labels = TaskLabels {
            task: task.id.clone(),
        };
        gauges
            .get_or_create(&labels)
            .set(saturating_i64(counter_of(task, ALLOWLIST_ENTRIES.1)));
    }
    gauges
}

fn counter_of(task: &TaskView, name: &str) -> u64 {
    task.counters.get(name).copied().unwrap_or(0)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
