//! The enforcer's cost measured inside the kernel: how often each program of a condition ran
//! during each measurement and for how long, from the kernel's BPF run-time statistics.
//! Unlike the rates, these count the programs' own time only, not the time the VM gave to
//! other work meanwhile.

use std::{collections::HashMap, os::fd::OwnedFd};

use anyhow::Context;
use enforcer::enforcement::ProgramStats;

use super::{
    client::{Kind, Sample},
    conditions::Condition,
};

/// Turns the statistics on for as long as the returned fd is open, leaving the sysctl
/// (`kernel.bpf_stats_enabled`) and so the rest of the node alone.
pub fn enable() -> anyhow::Result<OwnedFd> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime).context("enabling BPF run-time statistics")
}

/// What one measurement's client did, and what the programs did meanwhile.
struct Measurement {
    /// Bytes, connects or round trips.
    count: u64,
    seconds: f64,
    /// Per program: runs and run time during the measurement.
    programs: Vec<ProgramStats>,
}

/// Every measurement's program statistics, per metric and condition, in repetition order.
#[derive(Default)]
pub struct KernelTime {
    measurements: HashMap<(Kind, Condition), Vec<Measurement>>,
}

impl KernelTime {
    /// Records one measurement from snapshots of the programs' statistics taken before
    /// the client started and after it exited.
    pub fn add(
        &mut self,
        kind: Kind,
        condition: Condition,
        sample: &Sample,
        before: &[ProgramStats],
        after: &[ProgramStats],
    ) {
        let programs = after
            .iter()
            .zip(before)
            .map(|(after, before)| ProgramStats {
                name: after.name,
                run_count: after.run_count - before.run_count,
                run_time: after.run_time - before.run_time,
            })
            .collect();
        self.measurements
            .entry((kind, condition))
            .or_default()
            .push(Measurement {
                count: sample.count,
                seconds: sample.seconds,
                programs,
            });
    }

    /// Each program's runs and run time over all measurements of `kind`.
    pub fn programs(&self, kind: Kind, condition: Condition) -> Vec<ProgramStats> {
        self.of(kind, condition)
            .map(|m| m.programs.clone())
            .reduce(|mut totals, programs| {
                for (total, program) in totals.iter_mut().zip(programs) {
                    total.run_count += program.run_count;
                    total.run_time += program.run_time;
                }
                totals
            })
            .unwrap_or_default()
    }

    /// Connects the clients made under `condition`.
    pub fn connects(&self, condition: Condition) -> u64 {
        self.of(Kind::Connect, condition).map(|m| m.count).sum()
    }

    /// All programs' run time during the connect measurements per connect made, in
    /// microseconds: what enforcement adds to a connect, whatever else the VM was doing.
    pub fn per_connect(&self, condition: Condition) -> f64 {
        let seconds = total_seconds(&self.programs(Kind::Connect, condition));
        seconds * 1e6 / self.connects(condition).max(1) as f64
    }

    /// How many times the programs ran, all together, per connect made.
    pub fn runs_per_connect(&self, condition: Condition) -> f64 {
        let programs = self.programs(Kind::Connect, condition);
        let runs: u64 = programs.iter().map(|p| p.run_count).sum();
        runs as f64 / self.connects(condition).max(1) as f64
    }

    /// [`Self::per_connect`] of each repetition alone, in microseconds.
    pub fn per_connect_by_rep(&self, condition: Condition) -> Vec<f64> {
        self.of(Kind::Connect, condition)
            .map(|m| total_seconds(&m.programs) * 1e6 / m.count.max(1) as f64)
            .collect()
    }

    /// The share of the bulk measurements' time that went to the programs.
    pub fn bulk_share(&self, condition: Condition) -> f64 {
        let seconds: f64 = self.of(Kind::Bulk, condition).map(|m| m.seconds).sum();
        total_seconds(&self.programs(Kind::Bulk, condition)) / seconds
    }

    fn of(&self, kind: Kind, condition: Condition) -> impl Iterator<Item = &Measurement> {
        self.measurements
            .get(&(kind, condition))
            .into_iter()
            .flatten()
    }
}

fn total_seconds(programs: &[ProgramStats]) -> f64 {
    programs.iter().map(|p| p.run_time.as_secs_f64()).sum()
}

/// Average run time of one run, in nanoseconds; `None` if it never ran.
pub fn ns_per_run(program: &ProgramStats) -> Option<f64> {
    (program.run_count > 0).then(|| program.run_time.as_nanos() as f64 / program.run_count as f64)
}
