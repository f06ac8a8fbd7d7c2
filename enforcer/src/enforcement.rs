//! Enforcement in the kernel: a [`ProgramSet`] is the programs and shared maps, loaded once;
//! a [`TaskAttachment`] is one task's links to its cgroup, its settings in the cgroup's
//! storage and its entries in the shared maps. `enforcer run` owns one set for its one task
//! ([`Enforcement`]); the node agent attaches every task to one set. Links and maps are
//! pinned, so enforcement outlives the process that made it.

mod attachment;
mod counter_index;
mod link_info;
mod program_set;
mod sockopt_link;
mod storage;
mod sys;

pub use attachment::TaskAttachment;
pub use link_info::cgroup_of_link;
pub use program_set::{ProgramSet, ALL_PROGRAMS};
pub use storage::{TaskCounters, TaskSettings};

use std::{net::IpAddr, path::Path};

use aya::maps::{MapData, RingBuf};
use aya_log::EbpfLogger;
use enforcer_common::{Counter, Mode, TaskConfig, MAX_HTTP_PORTS};

use crate::error::{Error, Result};

/// An address or CIDR a task may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AllowedNet {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl AllowedNet {
    /// A single address.
    pub fn host(addr: IpAddr) -> AllowedNet {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        AllowedNet { addr, prefix_len }
    }

    /// A single address (kept in the hosts map) rather than a network (in the trie).
    pub fn is_host(&self) -> bool {
        *self == AllowedNet::host(self.addr)
    }

    /// Whether `ip` is in this network (IPv4-mapped IPv6 counts as the IPv4 it carries).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (addr, prefix_len) = (self.addr, self.prefix_len);
        crate::spec::Domain::Cidr { addr, prefix_len }.matches_ip(ip)
    }
}

impl std::fmt::Display for AllowedNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.addr, self.prefix_len) {
            (IpAddr::V4(_), 32) | (IpAddr::V6(_), 128) => write!(f, "{}", self.addr),
            _ => write!(f, "{}/{}", self.addr, self.prefix_len),
        }
    }
}

/// What the kernel enforces for one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskPolicy {
    pub mode: Mode,
    /// TCP ports allowed in HTTP mode (at most [`MAX_HTTP_PORTS`]).
    pub http_ports: Vec<u16>,
    /// Addresses and CIDRs allowed in HTTP mode from the start (IP literals and CIDRs of the
    /// spec); names add addresses as the task's resolver hands them out.
    pub allowed: Vec<AllowedNet>,
}

impl TaskPolicy {
    /// A policy with nothing to allow: None, or Full (which needs no list).
    pub fn without_allowlist(mode: Mode) -> TaskPolicy {
        TaskPolicy {
            mode,
            http_ports: Vec::new(),
            allowed: Vec::new(),
        }
    }

    /// The settings the kernel keeps for task number `task`, whose counters are entry
    /// `counter_index`.
    pub fn kernel_config(
        &self,
        task: u32,
        host_netns_cookie: u64,
        counter_index: u32,
    ) -> Result<TaskConfig> {
        if self.http_ports.len() > MAX_HTTP_PORTS {
            return Err(Error::Usage(format!(
                "at most {MAX_HTTP_PORTS} HTTP ports can be allowed, got {}",
                self.http_ports.len()
            )));
        }
        let mut http_ports = [0; MAX_HTTP_PORTS];
        http_ports[..self.http_ports.len()].copy_from_slice(&self.http_ports);
        Ok(TaskConfig {
            host_netns_cookie,
            task,
            mode: self.mode as u32,
            http_port_count: self.http_ports.len() as u32,
            http_ports,
            counter_index,
        })
    }
}

/// How often one program ran and for how long in total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    pub name: &'static str,
    pub run_count: u64,
    pub run_time: std::time::Duration,
}

/// The number `enforcer run` gives its one task in its own program set.
pub const ONLY_TASK: u32 = 1;

/// One task with a program set of its own (`enforcer run`, tests, the benchmark): the
/// programs its mode needs, loaded for it, attached to its cgroup, and everything pinned
/// under one directory.
pub struct Enforcement {
    set: ProgramSet,
    attachment: TaskAttachment,
}

impl Enforcement {
    /// Loads and attaches everything for a task in `cgroup`, pinned under `pin_dir`
    /// (created here; it must not exist). On error nothing stays attached or pinned.
    pub fn attach(cgroup: &Path, policy: &TaskPolicy, pin_dir: &Path) -> Result<Enforcement> {
        crate::bpffs::create_pin_dir(pin_dir)?;
        let programs = program_set::programs_for(policy.mode);
        let attached = ProgramSet::load(pin_dir, programs, 1).and_then(|mut set| {
            let attachment = set.attach(cgroup, ONLY_TASK, policy, pin_dir)?;
            Ok(Enforcement { set, attachment })
        });
        if attached.is_err() {
            // Unpinning drops the links that made it, so nothing stays attached. The attach
            // error is the one worth reporting; a failed unpin is left to `gc`.
            log_unpin_failure(crate::bpffs::remove_pins(pin_dir));
        }
        attached
    }

    /// Allows `net` from now on (HTTP mode); atomic for the task's sockets.
    pub fn allow(&mut self, net: AllowedNet) -> Result<()> {
        self.attachment.allow(net)
    }

    /// Stops allowing `net`; new connections to it, and packets of open ones, are refused
    /// from now on.
    pub fn disallow(&mut self, net: AllowedNet) -> Result<()> {
        self.attachment.disallow(net)
    }

    /// The task's counters, summed over CPUs.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>> {
        self.set.counters(self.attachment.cgroup_id())
    }

    /// Where the task's dropped-event count is read, for the denial log.
    pub fn lost_events(&self) -> Option<crate::events::LostEvents> {
        let counters = TaskCounters::from_pin(self.set.pin_dir()).ok()?;
        Some(crate::events::LostEvents {
            counters,
            index: self.set.counter_index(self.attachment.cgroup_id()).ok()?,
        })
    }

    /// See [`ProgramSet::program_stats`].
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>> {
        self.set.program_stats()
    }

    /// The denial-event ring buffer; can be taken once.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>> {
        self.set.take_events()
    }

    /// The aya-log reader of the kernel programs' debug output, if it could be set up.
    pub fn take_logger(&mut self) -> Option<EbpfLogger<&'static dyn log::Log>> {
        self.set.take_logger()
    }

    /// Detaches the programs and removes the pins. Call only once the task's cgroup is
    /// empty: from here on the cgroup is open.
    pub fn release(self) -> Result<()> {
        let pin_dir = self.set.pin_dir().to_path_buf();
        drop(self.attachment);
        drop(self.set);
        crate::bpffs::remove_pins(&pin_dir)
    }
}

fn log_unpin_failure(result: Result<()>) {
    if let Err(cleanup) = result {
        tracing::warn!(error = %cleanup, "removing the pins of a failed attach");
    }
}
