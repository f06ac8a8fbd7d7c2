//! Removing labs left behind by test processes that died without dropping them.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::addressing::{netns_name, NETNS_DIR, NETNS_PREFIX};
use super::netns::LabNetns;
use crate::ip::ip;

/// A lab without an owner file that is older than this died while being built
/// (building one takes well under a second).
const BUILD_GRACE: Duration = Duration::from_secs(30);

/// Name of the file, in a lab's scratch directory, holding the owning test
/// process's pid.
const OWNER_FILE: &str = "owner.pid";

/// Records this process as the owner of the lab whose scratch dir is `dir`.
pub(crate) fn write_owner(dir: &Path) -> Result<()> {
    let path = dir.join(OWNER_FILE);
    std::fs::write(&path, std::process::id().to_string())
        .with_context(|| format!("write {}", path.display()))
}

/// Removes every `enf-lab-*` namespace whose owning test process is gone:
/// kills the servers in it, deletes its veth pair, namespace and scratch dir.
/// Returns how many labs were removed.
///
/// `Lab::start` runs this once per process, so labs leaked by a killed test
/// run do not pile up.
pub fn cleanup_stale_labs() -> Result<usize> {
    let mut removed = 0;
    for line in ip(&["netns", "list"])?.lines() {
        // Lines look like `enf-lab-3 (id: 2)` or just `enf-lab-3`.
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(index) = name.strip_prefix(NETNS_PREFIX).and_then(|i| i.parse().ok()) else {
            continue;
        };
        if is_stale(index) {
            remove(index);
            removed += 1;
        }
    }
    Ok(removed)
}

fn scratch_dir(index: u8) -> PathBuf {
    std::env::temp_dir().join(netns_name(index))
}

fn is_stale(index: u8) -> bool {
    let owner = std::fs::read_to_string(scratch_dir(index).join(OWNER_FILE));
    match owner
        .ok()
        .and_then(|pid| pid.trim().parse::<libc::pid_t>().ok())
    {
        Some(pid) => !process_exists(pid),
        None => older_than(&Path::new(NETNS_DIR).join(netns_name(index)), BUILD_GRACE),
    }
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let delivered = unsafe { libc::kill(pid, 0) } == 0;
    delivered || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The namespace file's times are those of the namespace's creation.
fn older_than(path: &Path, age: Duration) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    modified.is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > age)
}

fn remove(index: u8) {
    let name = netns_name(index);
    // Its servers would otherwise keep the namespace alive after `netns del`.
    if let Ok(pids) = ip(&["netns", "pids", &name]) {
        for pid in pids
            .lines()
            .filter_map(|p| p.trim().parse::<libc::pid_t>().ok())
        {
            // SAFETY: kill(2) on a process inside a lab namespace: a leaked lab server.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _ = std::fs::remove_dir_all(scratch_dir(index));
    drop(LabNetns::adopt(index));
}
