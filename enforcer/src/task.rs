//! A task's cgroup and its enforcement, from attach to teardown, in one order for everyone
//! (`enforcer run`, tests, the benchmark): the processes die, the cgroup goes, and only then
//! is the enforcement released, so no process ever runs without it.

use std::{path::Path, time::Duration};

use crate::{
    cgroup::TaskCgroup,
    enforcement::{Enforcement, TaskPolicy},
    error::Result,
};

/// A cgroup with its programs attached (or none, for a plain cgroup to compare with).
pub struct EnforcedTask {
    cgroup: TaskCgroup,
    enforcement: Option<Enforcement>,
}

impl EnforcedTask {
    /// Attaches a policy to `cgroup`, pinned under its directory; with none the cgroup stays
    /// plain. On error the cgroup is removed and nothing stays attached or pinned.
    pub fn attach(
        cgroup: TaskCgroup,
        policy: Option<(&TaskPolicy, &Path)>,
    ) -> Result<EnforcedTask> {
        let attached =
            policy.map(|(policy, pin_dir)| Enforcement::attach(cgroup.path(), policy, pin_dir));
        let enforcement = match attached {
            Some(Err(e)) => {
                if let Err(cleanup) = cgroup.remove() {
                    tracing::warn!(error = %cleanup, "removing the cgroup of a failed attach");
                }
                return Err(e);
            }
            Some(Ok(enforcement)) => Some(enforcement),
            None => None,
        };
        Ok(EnforcedTask {
            cgroup,
            enforcement,
        })
    }

    pub fn cgroup(&self) -> &TaskCgroup {
        &self.cgroup
    }

    pub fn enforcement(&self) -> Option<&Enforcement> {
        self.enforcement.as_ref()
    }

    pub fn enforcement_mut(&mut self) -> Option<&mut Enforcement> {
        self.enforcement.as_mut()
    }

    /// Kills every process of the task (waiting up to `timeout`) and removes its cgroup.
    /// Until this has succeeded the enforcement must stay.
    pub fn end_processes(&self, timeout: Duration) -> Result<()> {
        self.cgroup.kill_all(timeout)?;
        self.cgroup.remove()
    }

    /// Detaches the programs and removes the pins. Call only once [`Self::end_processes`]
    /// succeeded: from here on the cgroup is open.
    pub fn release(self) -> Result<()> {
        self.enforcement.map_or(Ok(()), Enforcement::release)
    }

    /// [`Self::end_processes`], then [`Self::release`]; when the processes can't be ended,
    /// the enforcement stays pinned (for `enforcer gc`).
    pub fn teardown(self, timeout: Duration) -> Result<()> {
        self.end_processes(timeout)?;
        self.release()
    }
}
