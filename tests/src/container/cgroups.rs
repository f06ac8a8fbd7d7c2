//! The cgroups runc makes for test containers, and the shared parent they go under.

use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use enforcer::mounts::mount_points;

/// Test containers' cgroups are `<hierarchy>/enforcer-test/<id>` in every hierarchy.
pub const CGROUP_PARENT: &str = "/enforcer-test";

/// How many containers of this process may have cgroups under [`CGROUP_PARENT`]. The last
/// one to go removes the parent, under this lock, so that no runc of this process is
/// between creating the parent and creating its own cgroup in it.
static LIVE: Mutex<usize> = Mutex::new(0);

/// One container that may have cgroups under [`CGROUP_PARENT`]; the last one dropped
/// removes the parent from every hierarchy.
#[derive(Debug)]
pub(super) struct ParentUse(());

impl ParentUse {
    pub(super) fn take() -> ParentUse {
        *live() += 1;
        ParentUse(())
    }
}

impl Drop for ParentUse {
    fn drop(&mut self) {
        let mut live = live();
        *live -= 1;
        if *live == 0 {
            remove_parents();
        }
    }
}

/// A panicking test must not stop the others from counting.
fn live() -> MutexGuard<'static, usize> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes the empty parents (rmdir fails on one another process still uses).
fn remove_parents() {
    let hierarchies = ["cgroup", "cgroup2"]
        .into_iter()
        .flat_map(|fs_type| mount_points(fs_type).unwrap_or_default());
    for hierarchy in hierarchies {
        let _ = std::fs::remove_dir(hierarchy.join(CGROUP_PARENT.trim_start_matches('/')));
    }
}

/// The cgroup2 path (relative to the cgroup2 mount, starting with `/`) of process `pid`.
pub fn cgroup2_of(pid: u32) -> Result<String> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    cgroup2_line(&text)
        .map(str::to_owned)
        .with_context(|| format!("{path} has no 0:: line: {text}"))
}

/// The path of the `0::` (cgroup2) line of a `/proc/<pid>/cgroup` text.
pub fn cgroup2_line(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_unified_line_among_v1_ones() {
        let hybrid = "4:memory:/process_api/3ba2\n1:cpu:/x\n0::/enforcer-test/b-12\n";
        assert_eq!(cgroup2_line(hybrid), Some("/enforcer-test/b-12"));
        assert_eq!(cgroup2_line("1:cpu:/x\n"), None);
    }
}
