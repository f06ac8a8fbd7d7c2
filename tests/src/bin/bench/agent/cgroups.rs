//! The agent section's task cgroups, made as a container runtime would make them, all
//! under `<cgroup2>/enforcer-bench-<pid>-agent`. Dropping them (or [`AgentCgroups::close`])
//! kills what runs there and removes them all.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use enforcer::cgroup::TaskCgroup;

pub struct AgentCgroups {
    parent: TaskCgroup,
    closed: bool,
}

impl AgentCgroups {
    pub fn create() -> anyhow::Result<AgentCgroups> {
        let name = format!("enforcer-bench-{}-agent", std::process::id());
        let parent = enforcer::cgroup::cgroup2_mount()?.join(name);
        std::fs::create_dir(&parent).with_context(|| format!("creating {}", parent.display()))?;
        Ok(AgentCgroups {
            parent: TaskCgroup::existing(parent),
            closed: false,
        })
    }

    /// A new cgroup `name` (empty: the agent is given its path, not a process).
    pub fn add(&self, name: &str) -> anyhow::Result<PathBuf> {
        let cgroup = TaskCgroup::create(self.parent.path(), name)?;
        Ok(cgroup.path().to_path_buf())
    }

    /// Removes everything, reporting what could not be removed.
    pub fn close(mut self) -> anyhow::Result<()> {
        self.remove()
    }

    fn remove(&mut self) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        let path = self.parent.path().display().to_string();
        // cgroup.kill of the parent reaches every cgroup below it.
        self.parent
            .kill_all(Duration::from_secs(5))
            .and_then(|()| self.parent.remove())
            .with_context(|| format!("removing cgroups {path}"))
    }
}

impl Drop for AgentCgroups {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("enforcer-bench: removing the agent's cgroups: {e:#}");
        }
    }
}
