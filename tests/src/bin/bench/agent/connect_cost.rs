//! What a connect costs an HTTP task of the agent with one task enforced and with the
//! whole fleet: the existing connect client, run in the task's cgroup, and the agent's
//! programs' run time meanwhile (the other tasks' cgroups are empty, so every run is the
//! client's).

use std::path::Path;

use anyhow::Context;

use super::programs::{AgentPrograms, RunStats};
use crate::bench::{client::Kind, interrupt, run};

/// One client run: its connects, and the programs' runs and run time meanwhile.
#[derive(Clone, Copy, Debug)]
pub struct CostSample {
    pub connects: u64,
    pub seconds: f64,
    pub kernel: RunStats,
}

impl CostSample {
    pub fn kernel_us_per_connect(&self) -> f64 {
        self.kernel.run_time_ns as f64 / 1000.0 / self.connects.max(1) as f64
    }

    pub fn runs_per_connect(&self) -> f64 {
        self.kernel.runs as f64 / self.connects.max(1) as f64
    }

    pub fn connects_per_second(&self) -> f64 {
        self.connects as f64 / self.seconds
    }
}

/// The samples with one task enforced and with the fleet, in repetition order (the i-th
/// of each come from repetition i).
#[derive(Default)]
pub struct ConnectCost {
    pub one: Vec<CostSample>,
    pub fleet: Vec<CostSample>,
}

/// Runs the connect client in `cgroup` for `duration_ms` on `cpu`.
pub fn measure(
    exe: &Path,
    cgroup: &Path,
    duration_ms: u64,
    cpu: usize,
    programs: &AgentPrograms,
) -> anyhow::Result<CostSample> {
    let before = programs.stats()?;
    let sample = run::measure(exe, Kind::Connect, cgroup, duration_ms, cpu);
    interrupt::check()?;
    let sample = sample.context("connect client in the agent's HTTP task")?;
    let after = programs.stats()?;
    Ok(CostSample {
        connects: sample.count,
        seconds: sample.seconds,
        kernel: after.since(before),
    })
}
