//! Removes what dead runs left behind: their tasks (killed), cgroups and pins.

use std::time::Duration;

use crate::{
    bpffs,
    cgroup::TaskCgroup,
    error::{Error, Result},
    paths,
    state::{RunState, STATE_FORMAT},
};

/// Cleans up after every run whose `enforcer run` process is gone; returns the task ids
/// collected. Pins no state here accounts for are left alone: every run writes its state
/// before it pins anything, so they are a live run's whose /run is not this one's (another
/// mount namespace), and unpinning them would open its task. A run that can't be collected is
/// logged and left for the next try; the others still are.
pub fn collect_dead_runs() -> Vec<String> {
    let mut collected = Vec::new();
    for state in RunState::all() {
        if state.owner_alive() {
            continue;
        }
        if state.format != STATE_FORMAT {
            tracing::warn!(
                task = %state.task_id,
                format = state.format,
                known = STATE_FORMAT,
                "run state of a format this enforcer does not know; its task, cgroup and pins \
                 are left alone (collect it with the enforcer that wrote it)"
            );
            continue;
        }
        match collect(&state) {
            Ok(()) => {
                tracing::info!(task = %state.task_id, "removed what a dead run left behind");
                collected.push(state.task_id);
            }
            Err(e) => {
                tracing::warn!(task = %state.task_id, error = %e, "could not collect a dead run")
            }
        }
    }
    collected
}

/// Processes die first, then the cgroup, and only then the pins: no task is ever left
/// running unenforced.
fn collect(state: &RunState) -> Result<()> {
    let cgroup = TaskCgroup::existing(state.cgroup.clone());
    let ours = match (state.cgroup_inode, cgroup.inode()) {
        (Some(recorded), Ok(found)) => recorded == found,
        _ => false,
    };
    if ours {
        cgroup.kill_all(Duration::from_secs(10))?;
        cgroup.remove()?;
    } else if state.cgroup.exists() {
        // Not the cgroup this run created (it failed before, or the name was reused):
        // leave it alone, and keep any pins, which may be enforcing it.
        return Err(Error::Invalid(format!(
            "{} is not the cgroup this run created; left alone",
            state.cgroup.display()
        )));
    }
    bpffs::remove_pins(&paths::pin_dir(&state.task_id))?;
    state.remove()
}
