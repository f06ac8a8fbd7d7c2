//! The run-time statistics of the agent's one program set, read from the fdinfo of the
//! program descriptors the agent holds: every task's hooks run these programs, so their
//! totals over a measurement, while only one task has processes, are that task's.

use std::path::PathBuf;

use anyhow::{ensure, Context};

use super::fdinfo::{self, BpfKind};

/// Runs of all the agent's programs together, and their run time, so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunStats {
    pub runs: u64,
    pub run_time_ns: u64,
}

impl RunStats {
    /// What happened between `before` and `self`.
    pub fn since(self, before: RunStats) -> RunStats {
        RunStats {
            runs: self.runs - before.runs,
            run_time_ns: self.run_time_ns - before.run_time_ns,
        }
    }
}

/// Where to read the agent's programs' statistics.
pub struct AgentPrograms {
    fdinfo: Vec<PathBuf>,
}

impl AgentPrograms {
    /// The programs agent `pid` loaded (at its start: they stay for its lifetime).
    pub fn find(pid: u32) -> anyhow::Result<AgentPrograms> {
        let objects = fdinfo::bpf_objects(pid)
            .with_context(|| format!("listing the eBPF objects of process {pid}"))?;
        let fdinfo: Vec<PathBuf> = objects
            .into_iter()
            .filter(|o| o.kind == BpfKind::Program)
            .map(|o| o.fdinfo)
            .collect();
        ensure!(
            !fdinfo.is_empty(),
            "the agent (pid {pid}) holds no eBPF program"
        );
        Ok(AgentPrograms { fdinfo })
    }

    /// Totals now (zero run time unless BPF statistics are on).
    pub fn stats(&self) -> anyhow::Result<RunStats> {
        let mut total = RunStats::default();
        for path in &self.fdinfo {
            let text = fdinfo::read(path).with_context(|| format!("reading {}", path.display()))?;
            let read = |key| {
                fdinfo::field(&text, key).with_context(|| format!("no {key} in {}", path.display()))
            };
            total.runs += read("run_cnt")?;
            total.run_time_ns += read("run_time_ns")?;
        }
        Ok(total)
    }
}
