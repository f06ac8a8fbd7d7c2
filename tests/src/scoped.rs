//! Enforcement set up through the library (not the CLI), for tests that change a running
//! task's policy or need a task with capabilities. Removed on drop, also on panic.

use std::{os::unix::process::CommandExt, path::Path, process::Command, time::Duration};

use anyhow::{Context, Result};
use enforcer::{
    bpffs,
    cgroup::{cgroup2_mount, TaskCgroup},
    enforcement::{Enforcement, TaskPolicy},
    events::Denial,
    paths, sandbox,
    task::EnforcedTask,
};

/// A cgroup with the enforcer's programs attached, under `<cgroup2>/enforcer-tests`.
pub struct ScopedEnforcement {
    /// `None` once torn down.
    task: Option<EnforcedTask>,
}

impl ScopedEnforcement {
    /// Attaches `policy` to a new cgroup named after `name` and this process.
    pub fn attach(name: &str, policy: &TaskPolicy) -> Result<ScopedEnforcement> {
        bpffs::ensure_mounted()?;
        let id = format!("{name}-{}", std::process::id());
        let parent = cgroup2_mount()?.join("enforcer-tests");
        let cgroup = TaskCgroup::create(&parent, &id)?;
        let task = EnforcedTask::attach(cgroup, Some((policy, &paths::pin_dir(&id))))
            .context("attaching enforcement")?;
        Ok(ScopedEnforcement { task: Some(task) })
    }

    fn task(&self) -> &EnforcedTask {
        self.task.as_ref().expect("attached until drop")
    }

    pub fn enforcement(&mut self) -> &mut Enforcement {
        self.task
            .as_mut()
            .and_then(EnforcedTask::enforcement_mut)
            .expect("attached until drop")
    }

    /// The denials reported so far, read off the task's event ring (once).
    pub fn denials(&mut self) -> Result<Vec<Denial>> {
        let mut events = self.enforcement().take_events()?;
        let mut denials = Vec::new();
        while let Some(item) = events.next() {
            denials.extend(Denial::decode(&item));
        }
        Ok(denials)
    }

    pub fn cgroup_dir(&self) -> &Path {
        self.task().cgroup().path()
    }

    /// A command that starts confined in the cgroup, as `enforcer run` starts tasks.
    pub fn confined(&self, program: &Path) -> Result<Command> {
        let mut command = Command::new(program);
        sandbox::confine(&mut command, self.cgroup_dir(), None)?;
        Ok(command)
    }

    /// A command that starts in the cgroup keeping every capability (a root task that
    /// was not sandboxed): only the kernel programs stand in its way.
    pub fn privileged(&self, program: &Path) -> Command {
        let procs = self.cgroup_dir().join("cgroup.procs");
        let mut command = Command::new(program);
        // SAFETY: the closure only writes to a file; std::fs allocates, which is fine in a
        // test binary whose other threads do not hold the allocator lock across fork.
        unsafe {
            command.pre_exec(move || std::fs::write(&procs, "0"));
        }
        command
    }
}

impl Drop for ScopedEnforcement {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        let parent = task.cgroup().path().parent().map(Path::to_path_buf);
        let _ = task.teardown(Duration::from_secs(10));
        // The shared parent goes with the last test that used it.
        if let Some(parent) = parent {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
