//! The record a run keeps of what it created, so that `gc` can remove what dead runs
//! left behind (a `kill -9` of `enforcer run` leaves its task enforced, never open).

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    paths,
};

/// The layout of [`RunState`] this enforcer writes and understands. A state of another
/// format is left alone, with its task and pins: closed, never guessed at.
pub const STATE_FORMAT: u32 = 1;

/// What one run created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// [`STATE_FORMAT`] when written; states from before the field are format 1.
    #[serde(default = "first_format")]
    pub format: u32,
    pub task_id: String,
    /// The `enforcer run` process and its start time (to tell a reused pid apart).
    pub owner_pid: u32,
    pub owner_start_time: u64,
    pub cgroup: PathBuf,
    /// Inode of the cgroup once this run created it; `gc` kills only that very cgroup.
    pub cgroup_inode: Option<u64>,
}

impl RunState {
    /// The state of a run by this process.
    pub fn for_this_process(task_id: &str, cgroup: &Path) -> Result<RunState> {
        let owner_pid = std::process::id();
        let owner_start_time = process_start_time(owner_pid)
            .ok_or_else(|| Error::Invalid("cannot read this process's start time".into()))?;
        Ok(RunState {
            format: STATE_FORMAT,
            task_id: task_id.to_string(),
            owner_pid,
            owner_start_time,
            cgroup: cgroup.to_path_buf(),
            cgroup_inode: None,
        })
    }

    /// Written before anything else is created, so a crash at any later point is found.
    /// Fails if another run (alive or not yet collected) uses the same task id.
    pub fn save(&self) -> Result<()> {
        let path = paths::state_file(&self.task_id);
        fs::create_dir_all(paths::STATE_ROOT).map_err(Error::io("creating", paths::STATE_ROOT))?;
        let mut file = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Invalid(format!(
                    "task id {} is in use by another run ({})",
                    self.task_id,
                    path.display()
                )))
            }
            Err(e) => return Err(Error::io("creating", &path)(e)),
        };
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        file.write_all(&json).map_err(Error::io("writing", &path))
    }

    /// Records the inode of the cgroup this run created (atomically replaces the file).
    pub fn record_cgroup(&mut self, inode: u64) -> Result<()> {
        self.cgroup_inode = Some(inode);
        let path = paths::state_file(&self.task_id);
        let temporary = path.with_extension("json.new");
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        fs::write(&temporary, json).map_err(Error::io("writing", &temporary))?;
        fs::rename(&temporary, &path).map_err(Error::io("replacing", &path))
    }

    pub fn remove(&self) -> Result<()> {
        let path = paths::state_file(&self.task_id);
        fs::remove_file(&path).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(Error::io("removing", &path)(e)),
        })
    }

    /// Every run state on the node; unreadable files are skipped with a warning.
    pub fn all() -> Vec<RunState> {
        let Ok(entries) = fs::read_dir(paths::STATE_ROOT) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let parsed = fs::read(e.path())
                    .map_err(|err| err.to_string())
                    .and_then(|b| serde_json::from_slice(&b).map_err(|err| err.to_string()));
                parsed
                    .map_err(|err| tracing::warn!(file = %e.path().display(), %err, "skipping state file"))
                    .ok()
            })
            .collect()
    }

    /// Whether the run that wrote this state is still alive.
    pub fn owner_alive(&self) -> bool {
        process_start_time(self.owner_pid) == Some(self.owner_start_time)
    }
}

fn first_format() -> u32 {
    1
}

/// Field 22 of `/proc/PID/stat`: start time in clock ticks since boot.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it start past the last ')'.
    let after_comm = &stat[stat.rfind(')')? + 2..];
    after_comm.split(' ').nth(19)?.parse().ok()
}
