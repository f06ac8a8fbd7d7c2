//! The eBPF maps and programs a process holds, from `/proc/<pid>/fd` and
//! `/proc/<pid>/fdinfo`: what the kernel says each costs (`memlock:`) and, for programs,
//! their run-time statistics (`run_time_ns:`, `run_cnt:`).

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BpfKind {
    Map,
    Program,
}

impl BpfKind {
    /// What `/proc/<pid>/fd/N` links to for this kind.
    fn link(self) -> &'static str {
        match self {
            BpfKind::Map => "anon_inode:bpf-map",
            BpfKind::Program => "anon_inode:bpf-prog",
        }
    }

    /// The fdinfo line with the object's id.
    fn id_key(self) -> &'static str {
        match self {
            BpfKind::Map => "map_id",
            BpfKind::Program => "prog_id",
        }
    }
}

/// One map or program, reached through one of the descriptors the process holds on it.
pub struct BpfObject {
    pub kind: BpfKind,
    /// The fdinfo file of that descriptor, to read it again.
    pub fdinfo: PathBuf,
}

/// Every map and program `pid` holds a descriptor on, each once however many it holds
/// (the agent opens a shared map from its pin more than once).
pub fn bpf_objects(pid: u32) -> io::Result<Vec<BpfObject>> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let mut found = BTreeMap::new();
    for entry in fs::read_dir(proc.join("fd"))? {
        let entry = entry?;
        // A descriptor closed meanwhile is simply not there any more.
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let Some(kind) = [BpfKind::Map, BpfKind::Program]
            .into_iter()
            .find(|kind| target.as_os_str() == kind.link())
        else {
            continue;
        };
        let fdinfo = proc.join("fdinfo").join(entry.file_name());
        let Ok(text) = fs::read_to_string(&fdinfo) else {
            continue;
        };
        if let Some(id) = field(&text, kind.id_key()) {
            found
                .entry((kind, id))
                .or_insert(BpfObject { kind, fdinfo });
        }
    }
    Ok(found.into_values().collect())
}

/// The value of line `key:` of an fdinfo text.
pub fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

/// Reads one fdinfo file again.
pub fn read(fdinfo: &Path) -> io::Result<String> {
    fs::read_to_string(fdinfo)
}
