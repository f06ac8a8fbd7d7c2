//! The node agent's section: a real `enforcer daemon` of the benchmark's own, one shared
//! program set for every task, tasks enforced through its API. Measures how long an
//! attach takes with 1, 100 and 1,000 tasks already enforced, what the agent costs in
//! memory with 1,000 tasks, what a connect of one HTTP task costs with 1 task enforced and
//! with the whole fleet (alternated), and how many denial events a second reach
//! `/v1/events` before some are lost.

pub mod attach;
pub mod cgroups;
pub mod connect_cost;
pub mod daemon;
pub mod events;
pub mod fdinfo;
pub mod hammer;
pub mod memory;
pub mod programs;
pub mod report;

use std::path::Path;

use anyhow::Context;

use attach::{AttachLatency, Fleet, FLEET_SIZE};
use cgroups::AgentCgroups;
use connect_cost::ConnectCost;
use daemon::BenchAgent;
use events::EventStep;
use memory::Memory;
use programs::AgentPrograms;

/// Where the agent's memory is reported.
pub const MEMORY_AT: usize = 1000;

/// How the section runs.
pub struct AgentSettings {
    /// Rounds of one task, then the fleet; each round but the last releases the fleet.
    pub reps: u32,
    /// Length of one connect measurement.
    pub duration_ms: u64,
    /// The CPU the connect client shares with the lab's server.
    pub cpu: usize,
}

/// The agent's memory with `tasks` enforced, `when` says at which point of the run.
pub struct MemoryPoint {
    pub when: &'static str,
    pub tasks: usize,
    pub memory: Memory,
}

pub struct AgentResults {
    pub latency: AttachLatency,
    pub memory: Vec<MemoryPoint>,
    pub cost: ConnectCost,
    pub events: Vec<EventStep>,
}

/// Runs the section; the agent, its pins and the cgroups are gone when it returns.
pub fn measure(exe: &Path, settings: &AgentSettings) -> anyhow::Result<AgentResults> {
    let cgroups = AgentCgroups::create()?;
    let agent = BenchAgent::start().context("starting the agent")?;
    let measured = measure_with(exe, settings, &agent, &cgroups);
    // The agent first: removing its pins detaches the programs from the cgroups.
    let closed = agent.close().and(cgroups.close());
    let results = measured?;
    closed?;
    Ok(results)
}

fn measure_with(
    exe: &Path,
    settings: &AgentSettings,
    agent: &BenchAgent,
    cgroups: &AgentCgroups,
) -> anyhow::Result<AgentResults> {
    let client = agent.client();
    let pid = agent.pid();
    let programs = AgentPrograms::find(pid)?;
    // The task the connect client runs in; the fleet comes and goes around it.
    let probe = cgroups.add("probe")?;
    client
        .enforce(&attach::http_request("probe", &probe))
        .context("enforcing the probe task")?;
    let mut fleet = Fleet::new(client.clone(), cgroups, 1);
    let mut latency = AttachLatency::default();
    let mut memory = vec![MemoryPoint {
        when: "at start",
        tasks: fleet.tasks(),
        memory: Memory::of(pid)?,
    }];
    let mut cost = ConnectCost::default();
    let measure_cost =
        || connect_cost::measure(exe, &probe, settings.duration_ms, settings.cpu, &programs);
    for rep in 0..settings.reps {
        if rep > 0 && rep + 1 == settings.reps {
            memory.push(MemoryPoint {
                when: "after the fleet's releases",
                tasks: fleet.tasks(),
                memory: Memory::of(pid)?,
            });
        }
        cost.one.push(measure_cost()?);
        // The first growth, and the last: whether churn leaves memory behind.
        let when = match rep {
            0 => Some("first growth"),
            _ if rep + 1 == settings.reps => Some("last growth"),
            _ => None,
        };
        fleet.grow(&mut latency, |tasks| {
            if let Some(when) = when.filter(|_| tasks == MEMORY_AT) {
                let point = Memory::of(pid)?;
                memory.push(MemoryPoint {
                    when,
                    tasks,
                    memory: point,
                });
            }
            Ok(())
        })?;
        cost.fleet.push(measure_cost()?);
        if rep + 1 < settings.reps {
            fleet.release_all(&mut latency)?;
        }
        eprintln!(
            "enforcer-bench: agent round {}/{} done ({FLEET_SIZE} tasks)",
            rep + 1,
            settings.reps
        );
    }
    let events = events::measure(exe, &client, cgroups).context("measuring denial events")?;
    Ok(AgentResults {
        latency,
        memory,
        cost,
        events,
    })
}
