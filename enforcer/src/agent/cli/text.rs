//! The client commands' text output.

use std::fmt::Write;

use crate::agent::api::{AgentStatus, EventRecord, TaskView};

/// One line about a task just enforced: id, mode, what it may reach, cgroup.
pub(super) fn task_summary(task: &TaskView) -> String {
    let mut line = format!("enforced task {}: {}", task.id, task.mode);
    if !task.domains.is_empty() {
        let _ = write!(line, " to {}", task.domains.join(", "));
    }
    if task.mode == "http" && !task.http_ports.is_empty() {
        let ports: Vec<String> = task.http_ports.iter().map(u16::to_string).collect();
        let _ = write!(line, " on ports {}", ports.join(", "));
    }
    let _ = write!(line, "; cgroup {}", task.cgroup.display());
    line
}

const TABLE_HEADER: [&str; 6] = [
    "ID",
    "MODE",
    "CONNECTS OK/REFUSED",
    "PACKETS REFUSED",
    "DNS OK/REFUSED",
    "CGROUP",
];

/// A table of tasks, a header and one line each, columns aligned; the cgroup comes last as
/// it is the longest.
pub(super) fn task_table(tasks: &[TaskView]) -> String {
    let rows: Vec<[String; 6]> = tasks
        .iter()
        .map(|task| {
            let count = |name: &str| task.counters.get(name).copied().unwrap_or(0);
            [
                task.id.clone(),
                task.mode.clone(),
                format!("{}/{}", count("connect_allowed"), count("connect_denied")),
                count("packets_denied").to_string(),
                format!("{}/{}", count("dns_answered"), count("dns_refused")),
                task.cgroup.display().to_string(),
            ]
        })
        .collect();
    let header = TABLE_HEADER.map(str::to_owned);
    let mut widths = [0; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        let _ = writeln!(table, "{}", cells.join("  ").trim_end());
    }
    table
}

/// One event as the agent's log writes a denial: time (UTC), task, hook, reason, then what is
/// known of the destination and the process.
pub(super) fn event_line(event: &EventRecord) -> String {
    let denial = &event.denial;
    let millis_of_day = event.time_ms % 86_400_000;
    let mut line = format!(
        "{:02}:{:02}:{:02}.{:03} task={} hook={} reason={} protocol={}",
        millis_of_day / 3_600_000,
        millis_of_day / 60_000 % 60,
        millis_of_day / 1000 % 60,
        millis_of_day % 1000,
        event.task,
        denial.hook,
        denial.reason,
        denial.protocol,
    );
    let optional = [
        ("destination", denial.destination.clone()),
        ("name", denial.name.clone()),
        ("qtype", denial.qtype.clone()),
        ("pid", denial.pid.map(|pid| pid.to_string())),
        ("comm", denial.comm.as_ref().map(|comm| format!("{comm:?}"))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            let _ = write!(line, " {key}={value}");
        }
    }
    line
}

/// The agent's status in one line.
pub(super) fn status_line(status: &AgentStatus) -> String {
    let uptime = status.uptime_s;
    format!(
        "agent {}: {} task(s) ({} adopted at start), up {}h{:02}m{:02}s, {} event(s) lost",
        status.version,
        status.tasks,
        status.adopted,
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60,
        status.events_lost,
    )
}
