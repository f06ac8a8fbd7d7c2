//! One program set holding several tasks, through the library: each task's counters are an
//! entry of the set's per-CPU array, handed out while the task is attached and never to two
//! tasks at once.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use enforcer::{
    bpffs,
    enforcement::{ProgramSet, TaskPolicy, ALL_PROGRAMS},
    Error,
};
use enforcer_common::{Counter, Mode};
use enforcer_tests::{agent::TestCgroup, lab_or_skip, ProbeResult};

/// Pins of one test's set, removed on drop.
struct Pins(PathBuf);

impl Pins {
    fn create(name: &str) -> Pins {
        bpffs::ensure_mounted().unwrap();
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/enforcer-set-tests-{name}-{}",
            std::process::id()
        ));
        bpffs::create_pin_dir(&dir).unwrap();
        Pins(dir)
    }

    fn maps(&self) -> &Path {
        &self.0
    }

    /// Where task `task`'s links are pinned (created here).
    fn links(&self, task: &str) -> PathBuf {
        let dir = self.0.join(task);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = bpffs::remove_pins(&self.0);
    }
}

fn cgroup_id(cgroup: &TestCgroup) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(cgroup.path()).unwrap().ino()
}

fn denied_connects(set: &ProgramSet, cgroup: &TestCgroup) -> u64 {
    let counters = set.counters(cgroup_id(cgroup)).unwrap();
    counters
        .into_iter()
        .find(|(counter, _)| *counter == Counter::ConnectDenied)
        .map_or(0, |(_, n)| n)
}

fn tcp(cgroup: &TestCgroup, addr: IpAddr) -> ProbeResult {
    cgroup.probe(&["tcp", &addr.to_string(), "80"])
}

#[test]
fn counters_entries_go_to_one_task_at_a_time_and_start_at_zero() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let h0 = IpAddr::V4(lab.host(0));
    let pins = Pins::create("entries");
    let none = TaskPolicy::without_allowlist(Mode::None);
    let mut set = ProgramSet::load(pins.maps(), ALL_PROGRAMS.to_vec(), 2).unwrap();
    assert_eq!(set.max_tasks(), 2);
    let (a, b, c) = (
        TestCgroup::create("set-a").unwrap(),
        TestCgroup::create("set-b").unwrap(),
        TestCgroup::create("set-c").unwrap(),
    );
    let task_a = set.attach(a.path(), 1, &none, &pins.links("a")).unwrap();
    let task_b = set.attach(b.path(), 2, &none, &pins.links("b")).unwrap();
    assert!(tcp(&a, h0).is_eperm());
    assert!(tcp(&a, h0).is_eperm());
    assert!(tcp(&b, h0).is_eperm());
    assert_eq!(denied_connects(&set, &a), 2);
    assert_eq!(denied_connects(&set, &b), 1);

    let full = set.attach(c.path(), 3, &none, &pins.links("c"));
    assert!(matches!(full, Err(Error::NoRoom(_))), "{:?}", full.err());
    assert!(tcp(&c, h0).ok, "a task with no room is not enforced at all");

    // Released and enforced again: the same cgroup counts from zero.
    set.detach(task_b).unwrap();
    assert!(tcp(&b, h0).ok);
    let task_b = set.attach(b.path(), 4, &none, &pins.links("b")).unwrap();
    assert_eq!(denied_connects(&set, &b), 0);
    assert!(tcp(&b, h0).is_eperm());
    assert_eq!(denied_connects(&set, &b), 1);

    // A task lost without a detach (its links unpinned, as a crash mid-release leaves it)
    // keeps its entry while its cgroup's storage names it, and frees it with the cgroup.
    task_a.detach().unwrap();
    let full = set.attach(c.path(), 5, &none, &pins.links("c"));
    assert!(matches!(full, Err(Error::NoRoom(_))), "{:?}", full.err());
    drop(a);
    // The kernel frees a removed cgroup's storage a moment after the rmdir.
    let deadline = Instant::now() + Duration::from_secs(10);
    let task_c = loop {
        match set.attach(c.path(), 6, &none, &pins.links("c")) {
            Ok(task) => break task,
            Err(Error::NoRoom(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("the removed cgroup's entry was not freed: {e}"),
        }
    };
    assert_eq!(
        denied_connects(&set, &c),
        0,
        "a reused entry starts at zero"
    );
    assert!(tcp(&c, h0).is_eperm());
    assert_eq!(denied_connects(&set, &c), 1);
    assert_eq!(
        denied_connects(&set, &b),
        1,
        "the other task's entry is untouched"
    );
    set.detach(task_c).unwrap();
    set.detach(task_b).unwrap();
}

#[test]
fn a_pinned_counters_array_keeps_its_size() {
    let Some(_lab) = lab_or_skip() else {
        return;
    };
    let pins = Pins::create("size");
    let first = ProgramSet::load(pins.maps(), vec!["connect4"], 4).unwrap();
    assert_eq!(first.max_tasks(), 4);
    drop(first);
    let again = ProgramSet::load(pins.maps(), vec!["connect4"], 2).unwrap();
    assert_eq!(
        again.max_tasks(),
        4,
        "the pinned array's size, not the one asked"
    );
}
