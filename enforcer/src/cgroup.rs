//! The task's transient cgroup v2: created before the task, killed and removed after it.

use std::{
    fs,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    mounts,
};

/// Mount point of the cgroup v2 hierarchy, read from `/proc/self/mountinfo`
/// (`/sys/fs/cgroup` on most distros, `/sys/fs/cgroup/unified` on hybrid ones).
pub fn cgroup2_mount() -> Result<PathBuf> {
    mounts::mount_points("cgroup2")?
        .into_iter()
        .next()
        .ok_or(Error::NoCgroup2)
}

/// A cgroup this process created for one task.
#[derive(Debug)]
pub struct TaskCgroup {
    path: PathBuf,
}

impl TaskCgroup {
    /// Creates `parent/name`, creating `parent` if needed. Fails if `name` exists already,
    /// so two runs never share a cgroup.
    pub fn create(parent: &Path, name: &str) -> Result<TaskCgroup> {
        fs::create_dir_all(parent).map_err(Error::io("creating cgroup", parent))?;
        let path = parent.join(name);
        fs::create_dir(&path).map_err(Error::io("creating cgroup", &path))?;
        Ok(TaskCgroup { path })
    }

    /// Takes charge of an existing cgroup (left behind by a dead run).
    pub fn existing(path: PathBuf) -> TaskCgroup {
        TaskCgroup { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether any process is left in the cgroup or below it; when that can't be read
    /// for an existing cgroup, it counts as populated (never detach under a live task).
    pub fn is_populated(&self) -> bool {
        match fs::read_to_string(self.path.join("cgroup.events")) {
            Ok(events) => events.lines().any(|l| l == "populated 1"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(_) => true,
        }
    }

    /// The cgroup directory's inode: tells this cgroup apart from a later one of the
    /// same name.
    pub fn inode(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&self.path)
            .map(|m| m.ino())
            .map_err(Error::io("reading", &self.path))
    }

    /// Kills every process in the cgroup and its descendants, and waits until they are gone.
    pub fn kill_all(&self, timeout: Duration) -> Result<()> {
        if !self.path.exists() || !self.is_populated() {
            return Ok(());
        }
        let kill = self.path.join("cgroup.kill");
        fs::write(&kill, "1").map_err(Error::io("writing", &kill))?;
        let deadline = Instant::now() + timeout;
        while self.is_populated() {
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!(
                    "processes of {} did not exit after cgroup.kill",
                    self.path.display()
                )));
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Removes the cgroup and any cgroups the task created below it (deepest first).
    pub fn remove(&self) -> Result<()> {
        remove_tree(&self.path)
    }
}

fn remove_tree(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("reading", dir)(e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    fs::remove_dir(dir).map_err(Error::io("removing cgroup", dir))
}
