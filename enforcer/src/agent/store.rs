//! The agent's record of each task it enforces, one JSON file per task on tmpfs (gone at
//! reboot, like the pins): what a restarted or upgraded agent reads to take its tasks over.
//! A record is written before its task is attached, so a crash at any point leaves one.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    spec::NetworkSpec,
};

/// The layout of the agent's pins and records this agent writes and understands. Pins of
/// another format are never guessed at: the agent refuses to start (their tasks stay
/// enforced by what is pinned). Format 2 keeps each task's counters in a per-CPU array
/// entry its settings name, where format 1 kept them in per-CPU cgroup storage.
pub const AGENT_FORMAT: u32 = 2;

/// One enforced task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub format: u32,
    pub id: String,
    /// The task's number in the shared maps.
    pub number: u32,
    pub cgroup: PathBuf,
    /// The cgroup's inode when enforced: a cgroup of the same path made later is not ours.
    pub cgroup_id: u64,
    pub network: NetworkSpec,
    pub http_ports: Vec<u16>,
    /// Inode of the network namespace the task's resolver listens in (HTTP).
    pub netns_inode: Option<u64>,
    /// Unix time the task was enforced.
    pub since: u64,
}

/// The records of one agent, in one directory.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes `record` whole or not at all (a new file renamed over the old).
    pub fn save(&self, record: &TaskRecord) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(Error::io("creating", &self.dir))?;
        let path = self.path(&record.id);
        let partial = self.dir.join(format!(".{}.partial", record.id));
        let text = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::Invalid(format!("encoding the record of {}: {e}", record.id)))?;
        let mut file = fs::File::create(&partial).map_err(Error::io("writing", &partial))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(Error::io("writing", &partial))?;
        fs::rename(&partial, &path).map_err(Error::io("renaming into place", &path))
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("removing", path)(e))
            }
            _ => Ok(()),
        }
    }

    /// Every record, in file name order. A record that can't be read, or is of another
    /// format, is an error naming its file: the agent must not run over what it can't read.
    pub fn load_all(&self) -> Result<Vec<TaskRecord>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("listing", &self.dir)(e)),
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths.iter().map(|path| read_record(path)).collect()
    }
}

fn read_record(path: &Path) -> Result<TaskRecord> {
    let text = fs::read(path).map_err(Error::io("reading", path))?;
    let format = serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| value.get("format")?.as_u64());
    if format != Some(u64::from(AGENT_FORMAT)) {
        return Err(Error::Invalid(format!(
            "{} is a task record of format {}; this agent reads format {AGENT_FORMAT}. Its \
             task stays enforced by what is pinned: run the agent that wrote it, or release \
             the task with it, before this one",
            path.display(),
            format.map_or("unknown".to_owned(), |f| f.to_string())
        )));
    }
    serde_json::from_slice(&text)
        .map_err(|e| Error::Invalid(format!("reading task record {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::NetworkType;

    fn record(id: &str) -> TaskRecord {
        TaskRecord {
            format: AGENT_FORMAT,
            id: id.into(),
            number: 3,
            cgroup: "/sys/fs/cgroup/x".into(),
            cgroup_id: 42,
            network: NetworkSpec::new(NetworkType::Http, &["example.com"]).unwrap(),
            http_ports: vec![443],
            netns_inode: Some(7),
            since: 1,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("enforcer-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn records_round_trip_and_go() {
        let dir = scratch("round-trip");
        let store = Store::new(&dir);
        store.save(&record("b")).unwrap();
        store.save(&record("a")).unwrap();
        let ids: Vec<String> = store
            .load_all()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(store.load_all().unwrap()[0], record("a"));
        store.remove("a").unwrap();
        store.remove("a").unwrap();
        assert_eq!(store.load_all().unwrap().len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_record_of_another_format_is_refused_by_name() {
        let dir = scratch("format");
        let store = Store::new(&dir);
        store.save(&record("a")).unwrap();
        let mut other = serde_json::to_value(record("b")).unwrap();
        other["format"] = 99.into();
        fs::write(dir.join("b.json"), other.to_string()).unwrap();
        let error = store.load_all().unwrap_err().to_string();
        assert!(
            error.contains("b.json") && error.contains("format 99"),
            "{error}"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
