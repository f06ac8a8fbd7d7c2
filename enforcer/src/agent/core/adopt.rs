//! Taking over the tasks an earlier agent left pinned. A live task is never detached on the
//! way: its links stay, missing ones are added, and its settings and entries are written
//! again from its record, the one truth about what it was promised.

use std::{
    collections::{HashMap, HashSet},
    fs, io,
    net::IpAddr,
    path::Path,
    sync::atomic::Ordering,
};

use enforcer_common::policy::listed;

use super::{own_netns, Agent, AgentTask, Tasks};
use crate::{
    agent::{store::TaskRecord, target},
    bpffs,
    cgroup::TaskCgroup,
    enforcement::{
        cgroup_of_link, AllowedNet, ProgramSet, TaskAttachment, TaskPolicy, ALL_PROGRAMS,
    },
    policy,
    resolver::{Handover, HeldAddress},
};

/// Whether a recorded task's cgroup is still the one it was enforced on.
enum Found {
    Live,
    Gone,
}

impl Agent {
    /// Takes over every recorded task, then sweeps away the entries of numbers no record
    /// names. A record that can't be judged stops the agent (its task stays as pinned).
    pub(super) fn adopt_all(&self) -> crate::Result<()> {
        let records = self.store.load_all()?;
        let mut tasks = self.tasks();
        tasks.next_number = records
            .iter()
            .map(|r| r.number)
            .max()
            .map_or(1, |n| n.saturating_add(1));
        let mut hosts = hosts_by_task(&tasks.set)?;
        for record in records {
            let id = record.id.clone();
            let entries = hosts.remove(&record.number).unwrap_or_default();
            let adopted = self.adopt(&mut tasks, record, entries).map_err(|e| {
                crate::Error::Invalid(format!("taking over task {id}: {e}; it stays as pinned"))
            })?;
            if adopted {
                self.adopted.fetch_add(1, Ordering::Relaxed);
                tracing::info!(task = %id, "took over a task enforced before this agent started");
            } else {
                tracing::info!(task = %id, "released a task whose cgroup is gone");
            }
        }
        let live: HashSet<u32> = tasks.by_id.values().map(|t| t.record.number).collect();
        tasks.set.allowlist(0).keep_only(&live)
    }

    /// Whether the task was taken over (false: its cgroup is gone, so it was released).
    fn adopt(
        &self,
        tasks: &mut Tasks,
        record: TaskRecord,
        entries: Vec<(IpAddr, u8)>,
    ) -> crate::Result<bool> {
        let link_dir = self.options.link_dir(&record.id);
        if let Found::Gone = find_cgroup(&record, &link_dir, &self.options.cgroup_mount)? {
            tasks.set.allowlist(record.number).clear()?;
            bpffs::remove_pins(&link_dir)?;
            self.store.remove(&record.id)?;
            return Ok(false);
        }
        let policy = policy::for_network(&self.resolved(&record.network), &record.http_ports);
        fs::create_dir_all(&link_dir).map_err(crate::Error::io("creating", &link_dir))?;
        let in_kernel = tasks.set.settings_of(record.cgroup_id)?;
        if let Some(config) = in_kernel.filter(|c| c.task != 0) {
            // Written by an agent in another network namespace: what this one calls the
            // node's would make the node's loopback a task's own.
            if config.host_netns_cookie != tasks.set.host_netns_cookie() {
                return Err(crate::Error::Invalid(
                    "it was enforced by an agent in another network namespace: start the agent \
                     in the node's"
                        .into(),
                ));
            }
        }
        // The storage outlives a detach: whatever an earlier task left there must not be
        // what links attached now run with.
        if in_kernel.is_some() {
            tasks.set.change(record.cgroup_id, record.number, &policy)?;
        }
        tasks.set.attach_missing(&record.cgroup, &link_dir)?;
        let mut attachment = TaskAttachment::new(
            record.number,
            record.cgroup_id,
            tasks.set.allowlist(record.number),
            ProgramSet::node_addresses()?,
            &link_dir,
        );
        attachment.fill(&policy)?;
        // The record's settings, whatever the kernel held (an agent may have died between
        // writing a change's record and switching to it).
        tasks.set.change(record.cgroup_id, record.number, &policy)?;
        let netns = task_netns(&record);
        let resolver = match &netns {
            TaskNetns::Node => self.start_resolver(&tasks.set, &record, &policy, None),
            TaskNetns::Own(netns) => self.start_resolver(&tasks.set, &record, &policy, Some(netns)),
            // No process left to find its namespace by: nothing to serve, DNS stays closed.
            TaskNetns::Lost => Ok(None),
        };
        let resolver = match resolver {
            Ok(Some(resolver)) => {
                resolver.take_over(&previous_grants(&entries, &policy), |_| true)?;
                Some(resolver)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(task = %record.id, error = %e,
                    "no resolver for the task: its DNS fails closed");
                None
            }
        };
        if resolver.is_none() {
            // Nothing answers there now: steer the task's DNS nowhere rather than to a port
            // anyone may have bound since, and close what the old resolver had opened, as no
            // one is left to expire it.
            let mut allowlist = tasks.set.allowlist(record.number);
            allowlist.remove_resolvers()?;
            let previous = previous_grants(&entries, &policy);
            for addr in previous.held.iter().map(|h| h.addr).chain(previous.retired) {
                allowlist.remove(AllowedNet::host(addr))?;
            }
        }
        let netns = match netns {
            TaskNetns::Own(netns) => Some(netns),
            TaskNetns::Node | TaskNetns::Lost => None,
        };
        self.insert(
            tasks,
            AgentTask {
                record,
                policy,
                attachment,
                resolver,
                netns,
            },
        );
        Ok(true)
    }
}

/// Decides by the kernel's word first: a pinned link names the cgroup it is attached to, by
/// id, 0 once that cgroup is gone. Only a task with no link yet is judged by its path, and
/// only under this agent's cgroup2 mount: a path this agent can't see (another mount, another
/// cgroup namespace) is an error, never taken for "gone", which would release the task.
fn find_cgroup(record: &TaskRecord, link_dir: &Path, mount: &Path) -> crate::Result<Found> {
    let unseen = || {
        crate::Error::Invalid(format!(
            "its cgroup {} is not where this agent sees it (cgroup2 at {}): start the agent \
             where it sees the cgroups it enforced",
            record.cgroup.display(),
            mount.display()
        ))
    };
    if !record.cgroup.starts_with(mount) {
        return Err(unseen());
    }
    let by_path = TaskCgroup::existing(record.cgroup.clone()).inode();
    let link = ALL_PROGRAMS
        .iter()
        .map(|name| link_dir.join(name))
        .find(|path| path.exists());
    if let Some(link) = link {
        return match cgroup_of_link(&link)? {
            0 => Ok(Found::Gone),
            id if id == record.cgroup_id && by_path.is_ok_and(|seen| seen == id) => Ok(Found::Live),
            id if id == record.cgroup_id => Err(unseen()),
            _ => Err(crate::Error::Invalid(format!(
                "the links pinned in {} are attached to another cgroup than its record's",
                link_dir.display()
            ))),
        };
    }
    match by_path {
        Ok(id) if id == record.cgroup_id => Ok(Found::Live),
        Ok(_) => Ok(Found::Gone),
        Err(crate::Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(Found::Gone)
        }
        Err(e) => Err(e),
    }
}

/// Where a recorded task's resolver belongs.
enum TaskNetns {
    /// The node's namespace (the agent's own).
    Node,
    Own(fs::File),
    /// A namespace of its own that no process of the task is left in to open it by.
    Lost,
}

fn task_netns(record: &TaskRecord) -> TaskNetns {
    let Some(inode) = record.netns_inode else {
        return TaskNetns::Node;
    };
    if Some(inode) == target::netns_inode(std::process::id()) {
        return TaskNetns::Node;
    }
    match target::process_in_netns(&record.cgroup, inode).map(|pid| own_netns(Some(pid))) {
        Some(Ok(Some(netns))) => TaskNetns::Own(netns),
        _ => TaskNetns::Lost,
    }
}

/// Every task's single-address entries, read from the shared maps in one pass.
fn hosts_by_task(set: &ProgramSet) -> crate::Result<HashMap<u32, Vec<(IpAddr, u8)>>> {
    let mut by_task: HashMap<u32, Vec<(IpAddr, u8)>> = HashMap::new();
    for (task, addr, value) in set.allowlist(0).all_hosts()? {
        by_task.entry(task).or_default().push((addr, value));
    }
    Ok(by_task)
}

/// What a task's previous resolver had opened, as read from the kernel: allowed addresses
/// that are neither the spec's nor the node's are taken as held (for the hold floor, since
/// their names and TTLs went with the old agent), retired ones as retired.
fn previous_grants(entries: &[(IpAddr, u8)], policy: &TaskPolicy) -> Handover {
    let statics: HashSet<IpAddr> = policy
        .allowed
        .iter()
        .filter(|net| net.is_host())
        .map(|net| net.addr)
        .collect();
    let networks: Vec<_> = policy.allowed.iter().filter(|net| !net.is_host()).collect();
    let is_static =
        |addr: &IpAddr| statics.contains(addr) || networks.iter().any(|net| net.contains(*addr));
    let mut handover = Handover::default();
    for (addr, value) in entries {
        match *value {
            listed::ALLOWED if !is_static(addr) => handover.held.push(HeldAddress {
                name: "(held before the agent restarted)".into(),
                addr: *addr,
                left: std::time::Duration::ZERO,
            }),
            listed::RETIRED => handover.retired.push(*addr),
            _ => {}
        }
    }
    handover
}
