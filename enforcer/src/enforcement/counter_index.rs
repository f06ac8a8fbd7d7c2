//! Which entries of the per-CPU counters array the tasks of one program set hold: one each,
//! named in the task's settings, for as long as the task is attached. Entry 0 is no task's.

use std::collections::{HashMap, HashSet};

/// The counters entries taken, by the cgroup id of the task holding each.
#[derive(Debug)]
pub struct CounterIndexes {
    by_cgroup: HashMap<u64, u32>,
    /// Entries 1 to `capacity` are for tasks.
    capacity: u32,
}

impl CounterIndexes {
    pub fn new(capacity: u32) -> CounterIndexes {
        CounterIndexes {
            by_cgroup: HashMap::new(),
            capacity,
        }
    }

    /// How many tasks can hold an entry at once.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Forgets every holder and takes the kernel's word instead: `named` are the cgroups
    /// whose settings name an entry. Entries out of range name none.
    pub fn rebuild(&mut self, named: impl IntoIterator<Item = (u64, u32)>) {
        self.by_cgroup = named
            .into_iter()
            .filter(|(_, index)| (1..=self.capacity).contains(index))
            .collect();
    }

    /// Every cgroup holding an entry.
    pub fn holders(&self) -> Vec<u64> {
        self.by_cgroup.keys().copied().collect()
    }

    /// The entry `cgroup_id` holds.
    pub fn of(&self, cgroup_id: u64) -> Option<u32> {
        self.by_cgroup.get(&cgroup_id).copied()
    }

    /// The lowest free entry, now held by `cgroup_id`; `None` when every one is taken.
    pub fn take(&mut self, cgroup_id: u64) -> Option<u32> {
        let taken: HashSet<u32> = self.by_cgroup.values().copied().collect();
        let index = (1..=self.capacity).find(|index| !taken.contains(index))?;
        self.by_cgroup.insert(cgroup_id, index);
        Some(index)
    }

    /// Frees the entry `cgroup_id` held.
    pub fn release(&mut self, cgroup_id: u64) {
        self.by_cgroup.remove(&cgroup_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_lowest_free_entry_and_never_entry_zero() {
        let mut indexes = CounterIndexes::new(3);
        assert_eq!(indexes.take(100), Some(1));
        assert_eq!(indexes.take(200), Some(2));
        indexes.release(100);
        assert_eq!(indexes.take(300), Some(1));
        assert_eq!(indexes.of(200), Some(2));
        assert_eq!(indexes.of(100), None);
    }

    #[test]
    fn full_gives_none_until_one_is_released() {
        let mut indexes = CounterIndexes::new(2);
        assert_eq!(indexes.take(1), Some(1));
        assert_eq!(indexes.take(2), Some(2));
        assert_eq!(indexes.take(3), None);
        indexes.release(1);
        assert_eq!(indexes.take(3), Some(1));
    }

    #[test]
    fn rebuild_keeps_what_the_kernel_names_within_range() {
        let mut indexes = CounterIndexes::new(4);
        indexes.take(9);
        // Entry 0 (settings never written) and 7 (out of range) hold nothing; two cgroups
        // naming one entry (one a stale storage) both keep it taken.
        indexes.rebuild([(10, 2), (11, 0), (12, 7), (13, 2), (14, 1)]);
        assert_eq!(indexes.of(9), None);
        assert_eq!(indexes.of(10), Some(2));
        assert_eq!(indexes.of(11), None);
        assert_eq!(indexes.take(15), Some(3));
        assert_eq!(indexes.take(16), Some(4));
        assert_eq!(indexes.take(17), None);
    }
}
