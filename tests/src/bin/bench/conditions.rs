//! The conditions a client runs under, one task cgroup each under
//! `<cgroup2>/enforcer-bench-<pid>`, set up once for the whole run. Dropping them (or
//! [`Tasks::close`]) tears each task down as `enforcer run` does ([`EnforcedTask`]).

use std::{
    fs, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use enforcer::{
    cgroup::TaskCgroup,
    enforcement::{AllowedNet, Enforcement, ProgramStats, TaskPolicy},
    task::EnforcedTask,
};
use enforcer_common::{Counter, Mode};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// A plain cgroup, no programs.
    Baseline,
    /// Full mode: every hook attached, everything allowed (and counted).
    Full,
    /// HTTP mode, port 80, [`HTTP_ALLOWLIST_LEN`] allowed addresses, the server among them.
    Http,
    /// A plain cgroup whose DNS goes straight to the lab's server.
    DnsDirect,
    /// HTTP mode with nothing allowed up front: DNS is steered to a task resolver, and
    /// only what it answers opens. Asks one name over and over.
    DnsEnforced,
    /// As [`Condition::DnsEnforced`], with a resolver of its own for new names (each
    /// answer opens an address) and the first connects after them.
    DnsEnforcedNew,
}

/// Size of the http condition's allowlist: a task that resolved many names.
pub const HTTP_ALLOWLIST_LEN: usize = 10_000;

impl Condition {
    /// The conditions of the rates table.
    pub const RATES: [Condition; 3] = [Condition::Baseline, Condition::Full, Condition::Http];
    /// The conditions of the DNS measurements.
    pub const DNS: [Condition; 3] = [
        Condition::DnsDirect,
        Condition::DnsEnforced,
        Condition::DnsEnforcedNew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Condition::Baseline => "baseline",
            Condition::Full => "full",
            Condition::Http => "http",
            Condition::DnsDirect => "dns-direct",
            Condition::DnsEnforced => "dns-enforced",
            Condition::DnsEnforcedNew => "dns-enforced-new",
        }
    }

    fn policy(self, server: IpAddr) -> Option<TaskPolicy> {
        let policy = |mode, http_ports, allowed| TaskPolicy {
            mode,
            http_ports,
            allowed,
        };
        match self {
            Condition::Baseline | Condition::DnsDirect => None,
            Condition::Full => Some(policy(Mode::Full, vec![], vec![])),
            Condition::Http => Some(policy(Mode::Http, vec![80], http_allowlist(server))),
            Condition::DnsEnforced | Condition::DnsEnforcedNew => {
                Some(policy(Mode::Http, vec![80], vec![]))
            }
        }
    }
}

/// `server` plus deterministic filler: IPv4 hosts in 10.215.0.0/16 and 1,000 IPv6 hosts
/// in fd15::/64, so the lookups walk tries of realistic size in both families.
fn http_allowlist(server: IpAddr) -> Vec<AllowedNet> {
    let v6_hosts = 1_000;
    let v4_hosts = HTTP_ALLOWLIST_LEN - v6_hosts - 1;
    let v4_base = u32::from(Ipv4Addr::new(10, 215, 0, 0));
    let v6_base = u128::from(Ipv6Addr::new(0xfd15, 0, 0, 0, 0, 0, 0, 0));
    let v4 = (1..=v4_hosts as u32).map(|i| IpAddr::V4(Ipv4Addr::from(v4_base + i)));
    let v6 = (1..=v6_hosts as u128).map(|i| IpAddr::V6(Ipv6Addr::from(v6_base + i)));
    v4.chain(v6).chain([server]).map(AllowedNet::host).collect()
}

struct Task {
    condition: Condition,
    task: EnforcedTask,
    /// Where its enforcement is pinned, if it has any.
    pin_dir: Option<PathBuf>,
}

pub struct Tasks {
    parent: PathBuf,
    tasks: Vec<Task>,
    closed: bool,
}

impl Tasks {
    /// A cgroup per condition, with its enforcement attached; the http one allows `server`.
    pub fn create(server: IpAddr) -> anyhow::Result<Tasks> {
        enforcer::bpffs::ensure_mounted()?;
        let pid = std::process::id();
        let mut tasks = Tasks {
            parent: enforcer::cgroup::cgroup2_mount()?.join(format!("enforcer-bench-{pid}")),
            tasks: Vec::new(),
            closed: false,
        };
        for condition in Condition::RATES.into_iter().chain(Condition::DNS) {
            // A failed attach removes its own cgroup; `tasks` removes the ones before it.
            let cgroup = TaskCgroup::create(&tasks.parent, condition.name())?;
            let policy = condition.policy(server);
            let pin_dir = policy
                .as_ref()
                .map(|_| enforcer::paths::pin_dir(&format!("bench-{pid}-{}", condition.name())));
            let task = EnforcedTask::attach(cgroup, policy.as_ref().zip(pin_dir.as_deref()))
                .with_context(|| format!("attaching {} enforcement", condition.name()))?;
            tasks.tasks.push(Task {
                condition,
                task,
                pin_dir,
            });
        }
        Ok(tasks)
    }

    pub fn cgroup(&self, condition: Condition) -> &Path {
        self.task(condition).task.cgroup().path()
    }

    /// Where an enforced condition's maps are pinned; `None` without enforcement.
    pub fn pin_dir(&self, condition: Condition) -> Option<&Path> {
        self.task(condition).pin_dir.as_deref()
    }

    /// The kernel programs' counters of an enforced condition.
    pub fn counters(&self, condition: Condition) -> anyhow::Result<Option<Vec<(Counter, u64)>>> {
        let enforcement = self.task(condition).task.enforcement();
        Ok(enforcement.map(Enforcement::counters).transpose()?)
    }

    /// Runs and run time so far of each of a condition's programs; baseline has none.
    pub fn program_stats(&self, condition: Condition) -> anyhow::Result<Vec<ProgramStats>> {
        match self.task(condition).task.enforcement() {
            Some(enforcement) => Ok(enforcement.program_stats()?),
            None => Ok(Vec::new()),
        }
    }

    fn task(&self, condition: Condition) -> &Task {
        self.tasks
            .iter()
            .find(|t| t.condition == condition)
            .expect("every condition has a task")
    }

    /// Removes everything, reporting the first thing that could not be removed.
    pub fn close(mut self) -> anyhow::Result<()> {
        self.remove()
    }

    fn remove(&mut self) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        let mut first_error = None;
        for task in self.tasks.drain(..) {
            let name = task.condition.name();
            let removed = task.task.teardown(Duration::from_secs(5));
            if let Err(e) = removed.with_context(|| format!("removing {name}")) {
                first_error.get_or_insert(e);
            }
        }
        match fs::remove_dir(&self.parent) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                first_error.get_or_insert(
                    anyhow::Error::new(e)
                        .context(format!("removing cgroup {}", self.parent.display())),
                );
            }
            _ => {}
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("enforcer-bench: removing the task cgroups: {e:#}");
        }
    }
}
