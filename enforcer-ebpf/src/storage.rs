//! Per-task state in cgroup storage: the kernel keeps one value per cgroup the programs are
//! attached to, and `bpf_get_local_storage` hands the running program the value of *its*
//! attachment — the task's cgroup, even for a socket of a nested cgroup. One loaded set of
//! programs thus serves every task with no lookup to find which task a socket belongs to.
//!
//! aya-ebpf's cgroup storage types key by (cgroup, attach type), which would give each hook
//! its own copy; this one keys by cgroup alone (Linux 5.9+), so every hook of a task reads
//! the one value userspace writes.
//!
//! Finding the value is a helper call (some 10-15 ns of a run on this kind of machine), so
//! a run makes it once, and the counters are not cgroup storage but an array entry the
//! settings name (`maps::COUNTERS`), whose lookup the verifier inlines.

use core::{cell::UnsafeCell, mem::size_of};

use aya_ebpf::{
    bindings::{bpf_map_def, bpf_map_type},
    helpers::generated::bpf_get_local_storage,
};
use enforcer_common::TaskConfig;

/// A cgroup storage map keyed by cgroup id alone, pinned by name.
#[repr(transparent)]
pub struct SharedCgroupStorage(UnsafeCell<bpf_map_def>);

// SAFETY: the definition is only read by the loader; programs pass its address to helpers.
unsafe impl Sync for SharedCgroupStorage {}

/// aya's pinning value for "pin by name under the loader's directory".
const PIN_BY_NAME: u32 = 1;

impl SharedCgroupStorage {
    const fn new(map_type: bpf_map_type::Type, value_size: usize) -> SharedCgroupStorage {
        SharedCgroupStorage(UnsafeCell::new(bpf_map_def {
            type_: map_type,
            key_size: size_of::<u64>() as u32,
            value_size: value_size as u32,
            max_entries: 0,
            map_flags: 0,
            id: 0,
            pinning: PIN_BY_NAME,
        }))
    }

    /// This program's attachment's value.
    #[inline(always)]
    fn get(&self) -> *mut u8 {
        // SAFETY: a map definition the loader turned into a map; flags must be zero.
        unsafe { bpf_get_local_storage(self.0.get().cast(), 0) }.cast()
    }
}

/// Each task's [`TaskConfig`], written by userspace.
#[link_section = "maps"]
#[export_name = "TASK"]
pub static TASK: SharedCgroupStorage = SharedCgroupStorage::new(
    bpf_map_type::BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED,
    size_of::<TaskConfig>(),
);

/// The settings of the task this program runs for, in place: each field is loaded only
/// where it is used (a copy of all 40 bytes costs loads and stack spills on every run).
/// The value stays valid and unchanged for the whole run: userspace's write swaps in a new
/// one, freed only after running programs are done with the old.
#[inline(always)]
pub fn task_config() -> &'static TaskConfig {
    // SAFETY: the storage is always there for a program attached to a cgroup, sized for a
    // TaskConfig; each run calls the helper anew, so reads what userspace last wrote.
    unsafe { &*(TASK.get() as *const TaskConfig) }
}
