//! The tasks' cgroup storage seen from userspace: each task's [`TaskConfig`] and counters,
//! kept by the kernel per attached cgroup and keyed here by cgroup id (the cgroup
//! directory's inode). aya 0.14 has no typed API for these maps, so elements are read and
//! written with bpf(2).

use std::{
    os::fd::{AsFd, AsRawFd},
    path::Path,
};

use aya::maps::{Map, MapData};
use enforcer_common::{Counter, CounterSlots, TaskConfig, COUNTER_SLOTS};

use super::sys::{bpf, MapElem, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM};
use crate::{
    allowlist::open_pinned_map,
    error::{Error, Result},
};

/// Name of the settings map in the eBPF object.
pub const TASK: &str = "TASK";
/// Name of the per-CPU counters map.
pub const TASK_COUNTERS: &str = "TASK_COUNTERS";

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
}

/// The per-CPU counters map: one [`CounterSlots`] per CPU per attached cgroup.
pub struct TaskCounters(MapData);

impl TaskCounters {
    pub fn from_map(map: Map) -> Result<TaskCounters> {
        match map {
            Map::PerCpuCgroupStorage(data) => Ok(TaskCounters(data)),
            _ => Err(Error::Invalid(format!(
                "map {TASK_COUNTERS} is not per-CPU cgroup storage"
            ))),
        }
    }

    pub fn from_pin(dir: &Path) -> Result<TaskCounters> {
        TaskCounters::from_map(open_pinned_map(dir, TASK_COUNTERS)?)
    }

    /// The counters of the task in cgroup `cgroup_id`, summed over CPUs.
    pub fn read(&self, cgroup_id: u64) -> Result<Vec<(Counter, u64)>> {
        let cpus = aya::util::nr_cpus()
            .map_err(|(path, e)| Error::io("reading possible CPUs", path)(e))?;
        // The kernel copies one value per possible CPU, each rounded up to 8 bytes (it is).
        let mut values: Vec<CounterSlots> = vec![[0; COUNTER_SLOTS as usize]; cpus];
        let mut attr = MapElem {
            map_fd: self.0.fd().as_fd().as_raw_fd() as u32,
            key: &cgroup_id as *const u64 as u64,
            value: values.as_mut_ptr() as u64,
            ..Default::default()
        };
        bpf("bpf_map_lookup_elem", BPF_MAP_LOOKUP_ELEM, &mut attr)
            .map_err(|e| storage_error(TASK_COUNTERS, cgroup_id, e))?;
        Ok(Counter::ALL
            .iter()
            .map(|counter| {
                let sum = values.iter().map(|cpu| cpu[*counter as usize]).sum();
                (*counter, sum)
            })
            .collect())
    }

    /// One counter of cgroup `cgroup_id`, summed over CPUs.
    pub fn get(&self, cgroup_id: u64, counter: Counter) -> Result<u64> {
        let all = self.read(cgroup_id)?;
        Ok(all
            .into_iter()
            .find(|(c, _)| *c == counter)
            .map_or(0, |(_, n)| n))
    }
}

fn storage_error(name: &'static str, cgroup_id: u64, e: aya::sys::SyscallError) -> Error {
    Error::Invalid(format!(
        "{name} of cgroup {cgroup_id}: {}: {}",
        e.call, e.io_error
    ))
}
