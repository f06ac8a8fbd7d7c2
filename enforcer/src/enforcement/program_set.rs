//! The kernel programs and the maps every task shares, loaded once and pinned under one
//! directory. Loading again over the same directory reuses the pinned maps, so a restarted
//! agent's programs see the tasks its predecessor enforced.

use std::{
    fs,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use aya::{
    include_bytes_aligned,
    maps::{MapData, RingBuf},
    programs::{
        links::{FdLink, PinnedLink},
        CgroupAttachMode, CgroupSkbAttachType, Program,
    },
    Ebpf, EbpfLoader,
};
use aya_log::EbpfLogger;
use enforcer_common::{Counter, Mode, TaskConfig};

use super::{
    counter_index::CounterIndexes,
    sockopt_link,
    storage::{TaskCounters, TaskSettings, COUNTERS, TASK},
    ProgramStats, TaskAttachment, TaskPolicy,
};
use crate::{
    allowlist::{map_error, AllowlistMaps},
    error::{Error, Result},
    node,
};

/// The kernel programs, built by `build.rs` from `enforcer-ebpf`.
static EBPF_OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/enforcer-ebpf.o"));

/// Every program, in the order they are attached.
pub const ALL_PROGRAMS: [&str; 13] = [
    "sock_create",
    "setsockopt",
    "connect4",
    "connect6",
    "bind4",
    "bind6",
    "sendmsg4",
    "sendmsg6",
    "recvmsg4",
    "recvmsg6",
    "getpeername4",
    "getpeername6",
    "egress",
];

/// Programs that only restore what DNS steering rewrote: HTTP mode only.
const STEERING_RESTORERS: [&str; 4] = ["recvmsg4", "recvmsg6", "getpeername4", "getpeername6"];

/// The programs a task that stays in `mode` needs. Full has nothing to refuse at
/// setsockopt, and the hook costs about 0.4 us per setsockopt() call (socket lock and option
/// copy), so it is left out. Only HTTP steers DNS, so only HTTP restores the steered peer in
/// recvmsg and getpeername. (A task whose mode may change gets them all.)
pub fn programs_for(mode: Mode) -> Vec<&'static str> {
    ALL_PROGRAMS
        .into_iter()
        .filter(move |name| match mode {
            Mode::Full => *name != "setsockopt" && !STEERING_RESTORERS.contains(name),
            Mode::None => !STEERING_RESTORERS.contains(name),
            Mode::Http => true,
        })
        .collect()
}

/// The denial-event ring buffer.
const EVENTS: &str = "EVENTS";

/// The `log` target of the kernel programs' aya-log lines (their crate name).
const KERNEL_LOG_TARGET: &str = "enforcer_ebpf";

/// Loaded programs over pinned shared maps.
pub struct ProgramSet {
    ebpf: Ebpf,
    pin_dir: PathBuf,
    programs: Vec<&'static str>,
    settings: TaskSettings,
    counters: TaskCounters,
    counter_indexes: CounterIndexes,
    /// One set of allowlist map descriptors, shared by every task's handle.
    allowlist: AllowlistMaps,
    host_netns_cookie: u64,
    logger: Option<EbpfLogger<&'static dyn log::Log>>,
}

impl ProgramSet {
    /// Loads `programs` with the shared maps pinned in `pin_dir` (an existing directory on
    /// bpffs): maps already pinned there are reused, the others created and pinned, with
    /// room for the counters of `max_tasks` tasks (a pinned array keeps the size it has).
    pub fn load(pin_dir: &Path, programs: Vec<&'static str>, max_tasks: u32) -> Result<ProgramSet> {
        let log_level = kernel_log_level();
        let counter_entries = max_tasks
            .checked_add(1)
            .ok_or_else(|| Error::Usage(format!("{max_tasks} tasks is too many")))?;
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(pin_dir)
            .map_max_entries(COUNTERS, counter_entries)
            // Absent only if the programs log nothing at all.
            .override_global(aya_log::LEVEL, &log_level, false)
            .load(EBPF_OBJECT)?;
        // Kept alive from here on: dropping it closes the log map the programs use.
        let logger = EbpfLogger::init(&mut ebpf).ok();
        // Only what will be attached: verifying the rest would only slow the start.
        for name in &programs {
            load_program(&mut ebpf, name)?;
        }
        let settings = TaskSettings::from_map(take_map(&mut ebpf, TASK)?)?;
        // From its pin, so it knows the size the kernel made it (a pin from before keeps its
        // own), where the loader's handle knows only the size asked for.
        let counters = TaskCounters::from_pin(pin_dir)?;
        let counter_indexes = CounterIndexes::new(tasks_room(&counters, max_tasks));
        let host_netns_cookie =
            node::netns_cookie().map_err(Error::io("reading netns cookie of", "/"))?;
        let allowlist = AllowlistMaps::open(pin_dir, 0)?;
        let mut set = ProgramSet {
            ebpf,
            pin_dir: pin_dir.to_path_buf(),
            programs,
            settings,
            counters,
            counter_indexes,
            allowlist,
            host_netns_cookie,
            logger,
        };
        // The counters entries tasks attached before (by an earlier agent) hold.
        set.find_counter_indexes()?;
        Ok(set)
    }

    /// How many tasks can be attached at once (each holds an entry of the counters array).
    pub fn max_tasks(&self) -> u32 {
        self.counter_indexes.capacity()
    }

    /// The cookie of the network namespace this process runs in, written into every task's
    /// settings as the node's.
    pub fn host_netns_cookie(&self) -> u64 {
        self.host_netns_cookie
    }

    /// Where the shared maps are pinned.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// The node's own addresses now (a container's veth comes with its own): marked in
    /// every task's allowlist when it is attached, never allowed.
    pub fn node_addresses() -> Result<Vec<std::net::IpAddr>> {
        node::addresses().map_err(Error::io("listing addresses", "/"))
    }

    /// Attaches the loaded programs to `cgroup` for task number `task` under `policy`,
    /// links pinned in `link_dir` (an existing directory). Returns once every process of the
    /// cgroup, present and future, is under the policy. On error nothing of it stays
    /// attached, and its allowlist entries are gone.
    pub fn attach(
        &mut self,
        cgroup: &Path,
        task: u32,
        policy: &TaskPolicy,
        link_dir: &Path,
    ) -> Result<TaskAttachment> {
        let cgroup_dir = fs::File::open(cgroup).map_err(Error::io("opening cgroup", cgroup))?;
        let cgroup_id = cgroup_id(&cgroup_dir, cgroup)?;
        let counter_index = self.take_counter_index(cgroup_id)?;
        let config = match policy.kernel_config(task, self.host_netns_cookie, counter_index) {
            Ok(config) => config,
            Err(e) => {
                self.counter_indexes.release(cgroup_id);
                return Err(e);
            }
        };
        let mut attachment = TaskAttachment::new(
            task,
            cgroup_id,
            self.allowlist(task),
            ProgramSet::node_addresses()?,
            link_dir,
        );
        // The list first: the task's entries mean nothing until its settings name it.
        let result = attachment.fill(policy).and_then(|()| {
            // A cgroup enforced before keeps its storage: make it this task's before any
            // program runs for it again.
            if self.settings.read(cgroup_id)?.is_some() {
                self.settings.write(cgroup_id, &config)?;
            }
            self.attach_missing(cgroup, link_dir)?;
            // A new storage starts zeroed, which is closed; now it is the task's.
            self.settings.write(cgroup_id, &config)
        });
        if let Err(e) = result {
            if let Err(cleanup) = self.detach(attachment) {
                tracing::warn!(error = %cleanup, "cleaning up a failed attach");
            }
            return Err(e);
        }
        Ok(attachment)
    }

    /// Detaches a task (see [`TaskAttachment::detach`]) and frees its counters entry. Its
    /// cgroup's storage outlives the detach, so it is closed too: it names the entry no more.
    /// A task that could not be detached keeps its entry, since its programs may still run.
    pub fn detach(&mut self, attachment: TaskAttachment) -> Result<()> {
        let cgroup_id = attachment.cgroup_id();
        attachment.detach()?;
        if let Err(e) = self.settings.write(cgroup_id, &TaskConfig::CLOSED) {
            // No program runs there any more; only a rebuild of the entries taken would
            // still count this one, until the cgroup goes.
            tracing::debug!(cgroup_id, error = %e, "closing the storage of a detached task");
        }
        self.counter_indexes.release(cgroup_id);
        Ok(())
    }

    /// A free entry of the counters array for `cgroup_id`, zeroed. When every entry seems
    /// taken, the kernel's storages tell which are still named (tasks released without
    /// [`ProgramSet::detach`], by a crash or a cgroup removed, free theirs).
    fn take_counter_index(&mut self, cgroup_id: u64) -> Result<u32> {
        let index = match self.counter_indexes.take(cgroup_id) {
            Some(index) => index,
            None => {
                self.find_counter_indexes()?;
                self.counter_indexes.take(cgroup_id).ok_or_else(|| {
                    Error::NoRoom(format!(
                        "no room for another task: {} are attached, the most this program set \
                         counts for",
                        self.counter_indexes.capacity()
                    ))
                })?
            }
        };
        if let Err(e) = self.counters.clear(index) {
            self.counter_indexes.release(cgroup_id);
            return Err(e);
        }
        Ok(index)
    }

    /// Takes the counters entries the kernel's storages name as the ones held.
    fn find_counter_indexes(&mut self) -> Result<()> {
        let listed = self.settings.cgroups()?;
        // A holder the listing missed (it can end early while cgroups come and go) keeps
        // its entry while its storage still names it.
        let holders = self.counter_indexes.holders();
        let mut named = Vec::new();
        for cgroup_id in listed.into_iter().chain(holders) {
            // A storage gone since it was listed names nothing.
            if let Some(config) = self.settings.read(cgroup_id)? {
                named.push((cgroup_id, config.counter_index));
            }
        }
        self.counter_indexes.rebuild(named);
        Ok(())
    }

    /// Attaches to `cgroup` the programs whose links are missing from `link_dir` (all of them
    /// for a new task; some for one an earlier agent left half attached, or from before a
    /// program was added), never touching those already there. The pins hold the links; no
    /// descriptor of them is kept. Its settings are the caller's to write after.
    pub fn attach_missing(&mut self, cgroup: &Path, link_dir: &Path) -> Result<()> {
        let cgroup_dir = fs::File::open(cgroup).map_err(Error::io("opening cgroup", cgroup))?;
        for name in self.programs.clone() {
            let path = link_dir.join(name);
            if !path.exists() {
                attach_pinned(&mut self.ebpf, name, cgroup_dir.as_fd(), &path)?;
            }
        }
        Ok(())
    }

    /// Rewrites the settings of the task in `cgroup_id` (mode, ports, number), atomically
    /// for its programs. The task keeps its counters (a task whose settings were never
    /// written gets an entry).
    pub fn change(&mut self, cgroup_id: u64, task: u32, policy: &TaskPolicy) -> Result<()> {
        let counter_index = match self.counter_indexes.of(cgroup_id) {
            Some(index) => index,
            None => self.take_counter_index(cgroup_id)?,
        };
        let config = policy.kernel_config(task, self.host_netns_cookie, counter_index)?;
        self.settings.write(cgroup_id, &config)
    }

    /// The settings the kernel holds for `cgroup_id`, if programs were ever attached there.
    pub fn settings_of(&self, cgroup_id: u64) -> Result<Option<enforcer_common::TaskConfig>> {
        self.settings.read(cgroup_id)
    }

    /// A handle on task number `task`'s part of the shared allowlist maps.
    pub fn allowlist(&self, task: u32) -> AllowlistMaps {
        self.allowlist.for_task(task)
    }

    /// The entry of the counters array the task in `cgroup_id` holds.
    pub fn counter_index(&self, cgroup_id: u64) -> Result<u32> {
        self.counter_indexes
            .of(cgroup_id)
            .ok_or_else(|| Error::Invalid(format!("no task is attached to cgroup {cgroup_id}")))
    }

    /// The counters of the task in `cgroup_id`, summed over CPUs.
    pub fn counters(&self, cgroup_id: u64) -> Result<Vec<(Counter, u64)>> {
        self.counters.read(self.counter_index(cgroup_id)?)
    }

    /// Run count and total run time of each program, as the kernel keeps them while
    /// BPF statistics are enabled (`aya::sys::enable_stats`); zero otherwise, and for the
    /// programs not loaded.
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>> {
        ALL_PROGRAMS
            .iter()
            .map(|name| {
                let program = self.ebpf.program(name).ok_or(Error::Missing(name))?;
                let (run_count, run_time) = match program.info() {
                    Ok(info) => (info.run_count(), info.run_time()),
                    Err(aya::programs::ProgramError::NotLoaded) => Default::default(),
                    Err(source) => return Err(Error::Program { name, source }),
                };
                Ok(ProgramStats {
                    name,
                    run_count,
                    run_time,
                })
            })
            .collect()
    }

    /// The denial-event ring buffer of every task of the set; can be taken once.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>> {
        let map = self.ebpf.take_map(EVENTS).ok_or(Error::Missing(EVENTS))?;
        RingBuf::try_from(map).map_err(map_error(EVENTS))
    }

    /// The aya-log reader of the kernel programs' debug output, if it could be set up.
    pub fn take_logger(&mut self) -> Option<EbpfLogger<&'static dyn log::Log>> {
        self.logger.take()
    }
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map> {
    ebpf.take_map(name).ok_or(Error::Missing(name))
}

/// How many tasks the counters array has room for: its size less entry 0, which differs
/// from what was asked when it was pinned before with another size.
fn tasks_room(counters: &TaskCounters, max_tasks: u32) -> u32 {
    let room = counters.entries().saturating_sub(1);
    if room != max_tasks {
        tracing::warn!(
            pinned = room,
            asked = max_tasks,
            "the pinned counters array keeps its size: at most {room} tasks"
        );
    }
    room
}

/// The id the kernel knows a cgroup by: its directory's inode on cgroup2.
fn cgroup_id(dir: &fs::File, path: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let metadata = dir
        .metadata()
        .map_err(Error::io("reading the inode of cgroup", path))?;
    Ok(metadata.ino())
}

/// The most verbose level at which the kernel programs' aya-log lines would be shown, as
/// aya-log's `AYA_LOG_LEVEL` (0: none). Frozen into the programs, it lets the verifier drop
/// the code of the other levels: a refusal no one will read about is not formatted.
fn kernel_log_level() -> u8 {
    use aya_log::Level as Kernel;
    use log::Level as User;
    let shown = |level: User| {
        let metadata = log::Metadata::builder()
            .level(level)
            .target(KERNEL_LOG_TARGET)
            .build();
        level <= log::max_level() && log::logger().enabled(&metadata)
    };
    [
        (User::Trace, Kernel::Trace),
        (User::Debug, Kernel::Debug),
        (User::Info, Kernel::Info),
        (User::Warn, Kernel::Warn),
        (User::Error, Kernel::Error),
    ]
    .into_iter()
    .find(|(user, _)| shown(*user))
    .map_or(0, |(_, kernel)| kernel as u8)
}

fn load_program(ebpf: &mut Ebpf, name: &'static str) -> Result<()> {
    let program = ebpf.program_mut(name).ok_or(Error::Missing(name))?;
    let result = match program {
        Program::CgroupSockAddr(p) => p.load(),
        Program::CgroupSock(p) => p.load(),
        Program::CgroupSkb(p) => p.load(),
        Program::CgroupSockopt(p) => p.load(),
        _ => return Err(Error::Missing(name)),
    };
    result.map_err(|source| Error::Program { name, source })
}

/// Attaches program `name` to `cgroup` with a bpf_link pinned at `path`.
fn attach_pinned(
    ebpf: &mut Ebpf,
    name: &'static str,
    cgroup: std::os::fd::BorrowedFd<'_>,
    path: &Path,
) -> Result<PinnedLink> {
    let program = ebpf.program_mut(name).ok_or(Error::Missing(name))?;
    let fail = |source| Error::Program { name, source };
    let link: FdLink = match program {
        Program::CgroupSockAddr(p) => {
            let id = p.attach(cgroup, CgroupAttachMode::Single).map_err(fail)?;
            into_fd_link(name, p.take_link(id).map_err(fail)?)?
        }
        Program::CgroupSock(p) => {
            let id = p.attach(cgroup, CgroupAttachMode::Single).map_err(fail)?;
            into_fd_link(name, p.take_link(id).map_err(fail)?)?
        }
        Program::CgroupSockopt(p) => {
            let program = p.fd().map_err(fail)?.as_fd();
            return sockopt_link::attach_pinned(name, program, cgroup, path);
        }
        Program::CgroupSkb(p) => {
            let id = p
                .attach(
                    cgroup,
                    CgroupSkbAttachType::Egress,
                    CgroupAttachMode::Single,
                )
                .map_err(fail)?;
            into_fd_link(name, p.take_link(id).map_err(fail)?)?
        }
        _ => return Err(Error::Missing(name)),
    };
    link.pin(path).map_err(|source| Error::Pin {
        path: path.to_path_buf(),
        source,
    })
}

fn into_fd_link(
    name: &'static str,
    link: impl TryInto<FdLink, Error = aya::programs::links::LinkError>,
) -> Result<FdLink> {
    link.try_into()
        .map_err(|e| Error::Invalid(format!("program {name}: not a bpf_link attachment: {e}")))
}
