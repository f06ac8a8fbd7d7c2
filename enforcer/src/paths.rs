//! Where the enforcer keeps things on the node.

use std::path::{Path, PathBuf};

/// Where bpffs is (or gets) mounted.
pub const BPFFS: &str = "/sys/fs/bpf";
/// Pinned links and maps of each task: `PIN_ROOT/<task id>/<name>`.
pub const PIN_ROOT: &str = "/sys/fs/bpf/enforcer";
/// The enforcer's runtime directory (hidden from tasks).
pub const RUN_ROOT: &str = "/run/enforcer";
/// Locks of the network namespaces tasks joined: `NETNS_LOCKS/<namespace inode>.lock`.
pub const NETNS_LOCKS: &str = "/run/enforcer/netns";
/// Run state of each task: `STATE_ROOT/<task id>.json`.
pub const STATE_ROOT: &str = "/run/enforcer/tasks";
/// Task cgroups go under `<cgroup2 mount>/DEFAULT_CGROUP_PARENT` unless told otherwise.
pub const DEFAULT_CGROUP_PARENT: &str = "enforcer";

/// The pin directory of a task.
pub fn pin_dir(task_id: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(task_id)
}

/// The state file of a task.
pub fn state_file(task_id: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(format!("{task_id}.json"))
}
