//! Removes what dead runs left behind: their tasks (killed), pins and cgroups.

use std::time::Duration;

use crate::{bpffs, cgroup::TaskCgroup, error::Result, paths, state::RunState};

/// Cleans up after every run whose `enforcer run` process is gone; returns their task ids.
/// Processes are killed before the pins go, so no task is ever left running unenforced.
pub fn collect_dead_runs() -> Result<Vec<String>> {
    let mut collected = Vec::new();
    for state in RunState::all() {
        if state.owner_alive() {
            continue;
        }
        // Only ever kill a cgroup that is named after the task, as runs create them.
        if state.cgroup.file_name() != Some(std::ffi::OsStr::new(&state.task_id)) {
            tracing::warn!(task = %state.task_id, cgroup = %state.cgroup.display(),
                "state file names a cgroup the run did not create; leaving it");
            continue;
        }
        let cgroup = TaskCgroup::existing(state.cgroup.clone());
        cgroup.kill_all(Duration::from_secs(10))?;
        bpffs::remove_pins(&paths::pin_dir(&state.task_id))?;
        cgroup.remove()?;
        state.remove()?;
        tracing::info!(task = %state.task_id, "removed what a dead run left behind");
        collected.push(state.task_id);
    }
    Ok(collected)
}
