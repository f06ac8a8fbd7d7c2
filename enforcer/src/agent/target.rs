//! Which cgroup (and network namespace) an API request names, checked against the node.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Component, Path, PathBuf},
};

use super::api::{CgroupRef, Refusal};

/// A task's cgroup as found on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub cgroup: PathBuf,
    /// A process of the task, whose network namespace is the task's.
    pub pid: Option<u32>,
}

/// Finds the cgroup `reference` names under the cgroup2 mount `mount`. The mount's root is
/// never a task's (enforcing it would enforce the whole node), nor is a cgroup holding the
/// agent itself (it would cut the agent off from its upstream resolvers).
pub fn find(reference: &CgroupRef, mount: &Path) -> Result<Target, Refusal> {
    let (cgroup, pid) = match reference {
        CgroupRef::Path(path) => (cgroup_by_path(path, mount)?, None),
        CgroupRef::Pid(pid) => (cgroup_of_pid(*pid, mount)?, Some(*pid)),
    };
    if cgroup == mount {
        return Err(Refusal::UnknownCgroup(format!(
            "{} is the root cgroup: only a task's own cgroup can be enforced",
            cgroup.display()
        )));
    }
    if cgroup_of_pid(std::process::id(), mount).is_ok_and(|own| own.starts_with(&cgroup)) {
        return Err(Refusal::CgroupTaken(format!(
            "{} holds the agent itself",
            cgroup.display()
        )));
    }
    let pid = pid.or_else(|| first_process(&cgroup));
    Ok(Target { cgroup, pid })
}

fn cgroup_by_path(path: &Path, mount: &Path) -> Result<PathBuf, Refusal> {
    let unknown = |why: &str| Refusal::UnknownCgroup(format!("cgroup {}: {why}", path.display()));
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(unknown("give an absolute path with no `..`"));
    }
    let found = fs::canonicalize(path).map_err(|e| unknown(&e.to_string()))?;
    if !found.starts_with(mount) || !found.join("cgroup.procs").is_file() {
        return Err(unknown(&format!(
            "not a cgroup of the cgroup2 hierarchy at {}",
            mount.display()
        )));
    }
    Ok(found)
}

fn cgroup_of_pid(pid: u32, mount: &Path) -> Result<PathBuf, Refusal> {
    let unknown = |why: String| Refusal::UnknownCgroup(format!("process {pid}: {why}"));
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| unknown(format!("no such process ({e})")))?;
    let relative = text
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| unknown("in no cgroup2 cgroup".into()))?;
    let path = mount.join(relative.trim_start_matches('/'));
    cgroup_by_path(&path, mount)
}

/// The processes of `cgroup` and of every cgroup below it (a task may have moved its
/// processes into cgroups of its own).
fn processes(cgroup: &Path) -> Vec<u32> {
    let mut found: Vec<u32> = fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    if let Ok(entries) = fs::read_dir(cgroup) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.extend(processes(&entry.path()));
            }
        }
    }
    found
}

/// Whether a process is left in `cgroup` or below.
pub fn has_processes(cgroup: &Path) -> bool {
    !processes(cgroup).is_empty()
}

/// A process of `cgroup` or below, if it has one.
fn first_process(cgroup: &Path) -> Option<u32> {
    processes(cgroup).into_iter().next()
}

/// Whether `a` and `b` are the same cgroup or one holds the other: enforcing both would
/// nest one task's programs in another's.
pub fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The inode of a process's network namespace.
pub fn netns_inode(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|m| m.ino())
}

/// A process of `cgroup` (or below) in the network namespace `inode`: how a restarted agent
/// finds the namespace its predecessor's resolver listened in.
pub fn process_in_netns(cgroup: &Path, inode: u64) -> Option<u32> {
    processes(cgroup)
        .into_iter()
        .find(|pid| netns_inode(*pid) == Some(inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_overlap_when_one_holds_the_other() {
        let a = Path::new("/sys/fs/cgroup/a");
        assert!(overlaps(a, Path::new("/sys/fs/cgroup/a/b")));
        assert!(overlaps(Path::new("/sys/fs/cgroup/a/b"), a));
        assert!(overlaps(a, a));
        assert!(!overlaps(a, Path::new("/sys/fs/cgroup/ab")));
    }

    #[test]
    fn relative_and_dotted_paths_are_refused() {
        let mount = Path::new("/sys/fs/cgroup");
        for path in [
            "relative",
            "/sys/fs/cgroup/a/../..",
            "/nonexistent-cgroup-x",
        ] {
            let refusal = find(&CgroupRef::Path(path.into()), mount).unwrap_err();
            assert!(
                matches!(refusal, Refusal::UnknownCgroup(_)),
                "{path}: {refusal:?}"
            );
        }
    }

    #[test]
    fn a_process_that_does_not_exist_is_an_unknown_cgroup() {
        let refusal = find(&CgroupRef::Pid(u32::MAX), Path::new("/sys/fs/cgroup")).unwrap_err();
        assert!(matches!(refusal, Refusal::UnknownCgroup(_)), "{refusal:?}");
    }
}
