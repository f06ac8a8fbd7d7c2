//! Each task's state in the kernel seen from userspace: its [`TaskConfig`], kept by the
//! kernel in the storage of each attached cgroup and keyed here by cgroup id (the cgroup
//! directory's inode), and its counters, at the entry of the per-CPU array its settings
//! name. aya 0.14 has no typed API for cgroup storage, so its elements are read and written
//! with bpf(2).

use std::{
    os::fd::{AsFd, AsRawFd},
    path::Path,
};

use aya::maps::{Map, MapData, PerCpuArray, PerCpuValues};
use enforcer_common::{Counter, CounterSlots, TaskConfig, COUNTER_SLOTS};

use super::sys::{bpf, MapElem, BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM};
use crate::{
    allowlist::{map_error, open_pinned_map},
    error::{Error, Result},
};

/// Name of the settings map in the eBPF object.
pub const TASK: &str = "TASK";
/// Name of the per-CPU counters array.
pub const COUNTERS: &str = "COUNTERS";

/// The settings map: one [`TaskConfig`] per attached cgroup.
pub struct TaskSettings(MapData);

impl TaskSettings {
    pub fn from_map(map: Map) -> Result<TaskSettings> {
        match map {
            Map::CgroupStorage(data) => Ok(TaskSettings(data)),
            _ => Err(Error::Invalid(format!("map {TASK} is not cgroup storage"))),
        }
    }

    pub fn from_pin(dir: &Path) -> Result<TaskSettings> {
        TaskSettings::from_map(open_pinned_map(dir, TASK)?)
    }

    /// Writes the settings of the task in cgroup `cgroup_id`, atomically for its programs
    /// (the kernel swaps in a new copy). Fails when no program was ever attached there.
    pub fn write(&self, cgroup_id: u64, config: &TaskConfig) -> Result<()> {
        let mut attr = MapElem {
            map_fd: self.0.fd().as_fd().as_raw_fd() as u32,
            key: &cgroup_id as *const u64 as u64,
            value: config as *const TaskConfig as u64,
            ..Default::default()
        };
        bpf("bpf_map_update_elem", BPF_MAP_UPDATE_ELEM, &mut attr)
            .map(drop)
            .map_err(|e| storage_error(TASK, cgroup_id, e))
    }

    /// The settings of cgroup `cgroup_id`, if programs were ever attached there.
    pub fn read(&self, cgroup_id: u64) -> Result<Option<TaskConfig>> {
        let mut config = TaskConfig::CLOSED;
        let mut attr = MapElem {
            map_fd: self.0.fd().as_fd().as_raw_fd() as u32,
            key: &cgroup_id as *const u64 as u64,
            value: &mut config as *mut TaskConfig as u64,
            ..Default::default()
        };
        match bpf("bpf_map_lookup_elem", BPF_MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(Some(config)),
            Err(e) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(storage_error(TASK, cgroup_id, e)),
        }
    }

    /// The ids of every cgroup with a storage: those programs of the set are (or were, and
    /// the cgroup lives on) attached to.
    pub fn cgroups(&self) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        // A cgroup removed while the walk stands on it ends the walk early (the kernel can't
        // find the key to go on from): walk again. A few times only, since some kernels end
        // every walk on a key that is no cgroup's; their walks are whole anyway.
        for _ in 0..WALKS {
            ids = self.walk()?;
            match ids.last() {
                Some(&last) if self.read(last)?.is_none() => continue,
                _ => break,
            }
        }
        Ok(ids)
    }

    /// One walk over the keys, to its end or to a key gone meanwhile.
    fn walk(&self) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        let mut key: Option<u64> = None;
        while ids.len() < MAX_STORAGES {
            let mut next = 0u64;
            let mut attr = MapElem {
                map_fd: self.0.fd().as_fd().as_raw_fd() as u32,
                // No key: the first one.
                key: key.as_ref().map_or(0, |k| k as *const u64 as u64),
                value: &mut next as *mut u64 as u64,
                ..Default::default()
            };
            match bpf("bpf_map_get_next_key", BPF_MAP_GET_NEXT_KEY, &mut attr) {
                Ok(_) => {
                    ids.push(next);
                    key = Some(next);
                }
                Err(e) if e.io_error.raw_os_error() == Some(libc::ENOENT) => return Ok(ids),
                Err(e) => return Err(storage_error(TASK, key.unwrap_or(0), e)),
            }
        }
        Err(Error::Invalid(format!(
            "{TASK}: more than {MAX_STORAGES} cgroups with a storage"
        )))
    }
}

/// Walks of the storages tried before the last one is taken as it is.
const WALKS: usize = 3;
/// Most storages a walk goes through: far more cgroups than a node has.
const MAX_STORAGES: usize = 1 << 20;

/// The per-CPU counters array: one [`CounterSlots`] per CPU per entry, an entry per task
/// (named by its settings' `counter_index`); entry 0 is no task's.
pub struct TaskCounters(PerCpuArray<MapData, CounterSlots>);

impl TaskCounters {
    pub fn from_map(map: Map) -> Result<TaskCounters> {
        PerCpuArray::try_from(map)
            .map(TaskCounters)
            .map_err(map_error(COUNTERS))
    }

    pub fn from_pin(dir: &Path) -> Result<TaskCounters> {
        TaskCounters::from_map(open_pinned_map(dir, COUNTERS)?)
    }

    /// How many entries the array has, entry 0 included.
    pub fn entries(&self) -> u32 {
        self.0.len()
    }

    /// The counters at `index`, summed over CPUs.
    pub fn read(&self, index: u32) -> Result<Vec<(Counter, u64)>> {
        let values = self.0.get(&index, 0).map_err(map_error(COUNTERS))?;
        Ok(Counter::ALL
            .iter()
            .map(|counter| {
                let sum = values.iter().map(|cpu| cpu[*counter as usize]).sum();
                (*counter, sum)
            })
            .collect())
    }

    /// One counter at `index`, summed over CPUs.
    pub fn get(&self, index: u32, counter: Counter) -> Result<u64> {
        let all = self.read(index)?;
        Ok(all
            .into_iter()
            .find(|(c, _)| *c == counter)
            .map_or(0, |(_, n)| n))
    }

    /// Zeroes entry `index` on every CPU, for a new task.
    pub fn clear(&mut self, index: u32) -> Result<()> {
        let cpus = aya::util::nr_cpus()
            .map_err(|(path, e)| Error::io("reading possible CPUs", path)(e))?;
        let zeroes = PerCpuValues::try_from(vec![[0; COUNTER_SLOTS as usize]; cpus])
            .map_err(|e| Error::io("sizing the counters of", COUNTERS)(e))?;
        self.0.set(index, zeroes, 0).map_err(map_error(COUNTERS))
    }
}

fn storage_error(name: &'static str, cgroup_id: u64, e: aya::sys::SyscallError) -> Error {
    Error::Invalid(format!(
        "{name} of cgroup {cgroup_id}: {}: {}",
        e.call, e.io_error
    ))
}
