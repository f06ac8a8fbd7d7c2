use std::{collections::BTreeMap, time::Duration};

use super::Metrics;
use crate::agent::api::{AgentStatus, TaskView};

fn task(id: &str, counters: &[(&str, u64)]) -> TaskView {
    TaskView {
        id: id.to_owned(),
        cgroup: format!("/sys/fs/cgroup/{id}").into(),
        mode: "http".to_owned(),
        domains: vec!["example.com".to_owned()],
        http_ports: vec![80, 443],
        counters: counters
            .iter()
            .map(|&(name, value)| (name.to_owned(), value))
            .collect::<BTreeMap<_, _>>(),
        since: 1_700_000_000,
    }
}

fn status(events_lost: u64) -> AgentStatus {
    AgentStatus {
        version: "0.1.0".to_owned(),
        tasks: 1,
        uptime_s: 10,
        adopted: 0,
        events_lost,
    }
}

/// The lines of `text`, sorted: the order of series within a family is not specified.
fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn one_task_renders_every_family() {
    let metrics = Metrics::new();
    metrics.observe_dns_latency(Duration::from_micros(70));
    metrics.observe_dns_latency(Duration::from_millis(3));
    metrics.observe_dns_latency(Duration::from_secs(2));
    let task = task(
        "task-1",
        &[
            ("connect_allowed", 12),
            ("connect_denied", 3),
            ("sendmsg_denied", 4),
            ("packets_allowed", 100),
            ("packets_denied", 7),
            ("dns_answered", 9),
            ("dns_refused", 2),
            ("allowlist_entries", 5),
            ("sockets_denied", 1),
        ],
    );
    let text = metrics.render(&[task], &status(6));
    let expected = "\
# HELP enforcer_connects_total connect() calls of the task's processes, by verdict.
# TYPE enforcer_connects_total counter
enforcer_connects_total{task=\"task-1\",verdict=\"allowed\"} 12
enforcer_connects_total{task=\"task-1\",verdict=\"refused\"} 3
# HELP enforcer_sendmsgs_total Unconnected sendmsg() calls of the task's processes, by verdict.
# TYPE enforcer_sendmsgs_total counter
enforcer_sendmsgs_total{task=\"task-1\",verdict=\"allowed\"} 0
enforcer_sendmsgs_total{task=\"task-1\",verdict=\"refused\"} 4
# HELP enforcer_packets_total Packets the task sent, by verdict.
# TYPE enforcer_packets_total counter
enforcer_packets_total{task=\"task-1\",verdict=\"allowed\"} 100
enforcer_packets_total{task=\"task-1\",verdict=\"refused\"} 7
# HELP enforcer_dns_answers_total DNS queries the task's resolver answered or refused.
# TYPE enforcer_dns_answers_total counter
enforcer_dns_answers_total{task=\"task-1\",verdict=\"answered\"} 9
enforcer_dns_answers_total{task=\"task-1\",verdict=\"refused\"} 2
# HELP enforcer_allowlist_entries Addresses and networks in the task's allowlists.
# TYPE enforcer_allowlist_entries gauge
enforcer_allowlist_entries{task=\"task-1\"} 5
# HELP enforcer_tasks Tasks this agent enforces.
# TYPE enforcer_tasks gauge
enforcer_tasks 1
# HELP enforcer_events_lost_total Denial events the kernel could not queue.
# TYPE enforcer_events_lost_total counter
enforcer_events_lost_total 6
# HELP enforcer_dns_answer_seconds Time the task resolvers took to answer a query.
# TYPE enforcer_dns_answer_seconds histogram
enforcer_dns_answer_seconds_bucket{le=\"5e-05\"} 0
enforcer_dns_answer_seconds_bucket{le=\"0.0001\"} 1
enforcer_dns_answer_seconds_bucket{le=\"0.00025\"} 1
enforcer_dns_answer_seconds_bucket{le=\"0.0005\"} 1
enforcer_dns_answer_seconds_bucket{le=\"0.001\"} 1
enforcer_dns_answer_seconds_bucket{le=\"0.0025\"} 1
enforcer_dns_answer_seconds_bucket{le=\"0.005\"} 2
enforcer_dns_answer_seconds_bucket{le=\"0.01\"} 2
enforcer_dns_answer_seconds_bucket{le=\"0.025\"} 2
enforcer_dns_answer_seconds_bucket{le=\"0.05\"} 2
enforcer_dns_answer_seconds_bucket{le=\"0.1\"} 2
enforcer_dns_answer_seconds_bucket{le=\"0.25\"} 2
enforcer_dns_answer_seconds_bucket{le=\"0.5\"} 2
enforcer_dns_answer_seconds_bucket{le=\"1\"} 2
enforcer_dns_answer_seconds_bucket{le=\"+Inf\"} 3
enforcer_dns_answer_seconds_sum 2.00307
enforcer_dns_answer_seconds_count 3
";
    assert_eq!(sorted_lines(&text), sorted_lines(expected), "{text}");
    // Each family's HELP and TYPE come before its series.
    let position = |line: &str| text.lines().position(|l| l == line).unwrap();
    assert!(
        position("# TYPE enforcer_connects_total counter")
            < position("enforcer_connects_total{task=\"task-1\",verdict=\"allowed\"} 12")
    );
}

#[test]
fn tasks_come_and_go_while_the_histogram_stays() {
    let metrics = Metrics::new();
    metrics.observe_dns_latency(Duration::from_millis(1));
    let first = metrics.render(&[task("a", &[]), task("b", &[])], &status(0));
    assert!(
        first.contains("enforcer_allowlist_entries{task=\"b\"} 0\n"),
        "{first}"
    );
    assert!(first.contains("enforcer_tasks 2\n"), "{first}");

    metrics.observe_dns_latency(Duration::from_millis(1));
    let second = metrics.render(&[task("a", &[])], &status(0));
    assert!(!second.contains("task=\"b\""), "{second}");
    assert!(second.contains("enforcer_tasks 1\n"), "{second}");
    assert!(
        second.contains("enforcer_dns_answer_seconds_count 2\n"),
        "{second}"
    );
}

#[test]
fn no_tasks_render_the_agent_metrics() {
    let text = Metrics::new().render(&[], &status(0));
    assert!(text.contains("enforcer_tasks 0\n"), "{text}");
    assert!(text.contains("enforcer_events_lost_total 0\n"), "{text}");
    assert!(
        text.contains("enforcer_dns_answer_seconds_count 0\n"),
        "{text}"
    );
    assert!(!text.contains("task="), "{text}");
}
