//! Enforcement set up through the library (not the CLI), for tests that change a running
//! task's policy or need a task with capabilities. Removed on drop, also on panic.

use std::{os::unix::process::CommandExt, path::Path, process::Command, time::Duration};

use anyhow::{Context, Result};
use enforcer::{
    bpffs,
    cgroup::{cgroup2_mount, TaskCgroup},
    enforcement::{Enforcement, TaskPolicy},
    paths, sandbox,
};

/// A cgroup with the enforcer's programs attached, under `<cgroup2>/enforcer-tests`.
pub struct ScopedEnforcement {
    cgroup: TaskCgroup,
    enforcement: Option<Enforcement>,
}

impl ScopedEnforcement {
    /// Attaches `policy` to a new cgroup named after `name` and this process.
    pub fn attach(name: &str, policy: &TaskPolicy) -> Result<ScopedEnforcement> {
        bpffs::ensure_mounted()?;
        let id = format!("{name}-{}", std::process::id());
        let parent = cgroup2_mount()?.join("enforcer-tests");
        let cgroup = TaskCgroup::create(&parent, &id)?;
        let enforcement = Enforcement::attach(cgroup.path(), policy, &paths::pin_dir(&id));
        match enforcement {
            Ok(enforcement) => Ok(ScopedEnforcement {
                cgroup,
                enforcement: Some(enforcement),
            }),
            Err(e) => {
                let _ = cgroup.remove();
                Err(e).context("attaching enforcement")
            }
        }
    }

    pub fn enforcement(&mut self) -> &mut Enforcement {
        self.enforcement.as_mut().expect("attached until drop")
    }

    pub fn cgroup_dir(&self) -> &Path {
        self.cgroup.path()
    }

    /// A command that starts confined in the cgroup, as `enforcer run` starts tasks.
    pub fn confined(&self, program: &Path) -> Result<Command> {
        let mut command = Command::new(program);
        sandbox::confine(&mut command, self.cgroup.path(), None)?;
        Ok(command)
    }

    /// A command that starts in the cgroup keeping every capability (a root task that
    /// was not sandboxed): only the kernel programs stand in its way.
    pub fn privileged(&self, program: &Path) -> Command {
        let procs = self.cgroup.path().join("cgroup.procs");
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
        let _ = self.cgroup.kill_all(Duration::from_secs(10));
        if let Some(enforcement) = self.enforcement.take() {
            let _ = enforcement.release();
        }
        let _ = self.cgroup.remove();
        // The shared parent goes with the last test that used it.
        if let Some(parent) = self.cgroup.path().parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
