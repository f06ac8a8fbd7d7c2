//! The agent's enforcement core: the tasks it enforces on one shared [`ProgramSet`], each
//! with its attachment, its resolver (HTTP) and its record, behind the API's
//! [`TaskService`]. Every call that changes the kernel holds the task table's lock, so calls
//! are applied one at a time, whole or not at all.

mod adopt;
mod change;

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    os::fd::AsFd,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, RwLock,
    },
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use enforcer_common::{Counter, Mode};
use tokio::{runtime::Handle, sync::broadcast};

use super::{
    api::{
        check_id, AgentStatus, DenialRecord, EnforceRequest, EventRecord, NetworkRequest, Refusal,
        TaskService, TaskView,
    },
    metrics::Metrics,
    store::{Store, TaskRecord, AGENT_FORMAT},
    target,
};
use crate::{
    bpffs,
    cgroup::TaskCgroup,
    enforcement::{ProgramSet, TaskAttachment, TaskPolicy},
    events::Denial,
    policy,
    resolver::{ResolverSettings, TaskResolver},
    spec::{self, NetworkSpec, ResolvedNetwork, ResolvedNetworkKind},
};

/// Denial events waiting for slow API readers; beyond it a reader is told how many it lost.
const EVENT_BACKLOG: usize = 4096;

/// How the agent enforces, from its config.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// Where the shared maps (`maps/`) and each task's links (`tasks/<id>/`) are pinned.
    pub pin_dir: PathBuf,
    /// Where task records are kept.
    pub state_dir: PathBuf,
    /// The cgroup2 mount.
    pub cgroup_mount: PathBuf,
    /// HTTP ports when a request names none.
    pub http_ports: Vec<u16>,
    /// What Type Default means.
    pub default_network: ResolvedNetworkKind,
    pub resolver: ResolverSettings,
}

impl AgentOptions {
    fn link_dir(&self, id: &str) -> PathBuf {
        self.pin_dir.join("tasks").join(id)
    }
}

/// One enforced task.
struct AgentTask {
    record: TaskRecord,
    policy: TaskPolicy,
    attachment: TaskAttachment,
    resolver: Option<TaskResolver>,
    /// The task's network namespace, when it has one of its own: where its resolver
    /// listens, now and after a change.
    netns: Option<fs::File>,
}

struct Tasks {
    set: ProgramSet,
    by_id: BTreeMap<String, AgentTask>,
    /// The number the next task gets.
    next_number: u32,
}

/// The node agent's core.
pub struct Agent {
    tasks: Mutex<Tasks>,
    /// Task number to id, for routing kernel events without the task table's lock.
    names: Arc<RwLock<HashMap<u32, String>>>,
    events: broadcast::Sender<EventRecord>,
    store: Store,
    metrics: Arc<Metrics>,
    options: AgentOptions,
    runtime: Handle,
    started: Instant,
    adopted: AtomicUsize,
}

impl Agent {
    /// An agent over `set` (loaded over `options.maps_dir()`), taking over every task its
    /// records name. Call on a runtime thread that may block (or outside the runtime).
    pub fn start(
        set: ProgramSet,
        options: AgentOptions,
        metrics: Arc<Metrics>,
        runtime: Handle,
    ) -> crate::Result<Agent> {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let agent = Agent {
            tasks: Mutex::new(Tasks {
                set,
                by_id: BTreeMap::new(),
                next_number: 1,
            }),
            names: Arc::default(),
            events,
            store: Store::new(&options.state_dir),
            metrics,
            options,
            runtime,
            started: Instant::now(),
            adopted: AtomicUsize::new(0),
        };
        agent.adopt_all()?;
        Ok(agent)
    }

    /// Where the shared maps of an agent with `pin_dir` are pinned.
    pub fn maps_dir(pin_dir: &Path) -> PathBuf {
        pin_dir.join("maps")
    }

    /// How many tasks the agent enforces.
    pub fn task_count(&self) -> usize {
        self.tasks().by_id.len()
    }

    fn tasks(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a kernel denial record (from the shared ring buffer) to the API's readers and
    /// returns the task's id, if the record is of a task of this agent.
    pub fn route_kernel_event(&self, bytes: &[u8]) -> Option<(String, Denial)> {
        let number = Denial::task_number(bytes)?;
        let denial = Denial::decode(bytes)?;
        let id = self.names.read().ok()?.get(&number)?.clone();
        publish(&self.events, &id, &denial);
        Some((id, denial))
    }

    /// Counts events the kernel could not queue (read from the tasks' counters).
    fn kernel_events_lost(&self, tasks: &Tasks) -> u64 {
        tasks
            .by_id
            .values()
            .map(|task| counter(&tasks.set, task, Counter::EventsLost))
            .sum()
    }

    fn settings_for(&self) -> ResolverSettings {
        let events = self.events.clone();
        let mut settings = self.options.resolver.clone();
        settings.hooks.denials = Some(Arc::new(move |task: &str, denial: &Denial| {
            publish(&events, task, denial)
        }));
        let metrics = self.metrics.clone();
        settings.hooks.answer_latency =
            Some(Arc::new(move |took| metrics.observe_dns_latency(took)));
        settings
    }

    /// The network spec and ports a request gives, validated.
    fn network_of(&self, request: &NetworkRequest) -> Result<(NetworkSpec, Vec<u16>), Refusal> {
        request.check_shape()?;
        let spec = match (&request.network, &request.job) {
            (Some(network), None) => serde_json::from_value::<NetworkSpec>(network.clone())
                .map_err(|e| Refusal::BadSpec(format!("network: {e}")))?,
            (None, Some(job)) => NetworkSpec::from_job_str(&job.spec, job.task.as_deref())
                .map_err(|e| Refusal::BadSpec(e.to_string()))?,
            _ => unreachable!("check_shape allows exactly one"),
        };
        let ports = if request.http_ports.is_empty() {
            self.options.http_ports.clone()
        } else {
            if request.http_ports.contains(&0) {
                return Err(Refusal::BadSpec("http_ports: 0 is not a port".into()));
            }
            spec::http_ports(&request.http_ports).map_err(|e| Refusal::BadSpec(e.to_string()))?
        };
        Ok((spec, ports))
    }

    fn resolved(&self, spec: &NetworkSpec) -> ResolvedNetwork {
        spec.resolve(self.options.default_network).network
    }

    /// Starts the resolver of an HTTP task in `netns` (the agent's own when `None`), steering
    /// the task's DNS to it.
    fn start_resolver(
        &self,
        set: &ProgramSet,
        record: &TaskRecord,
        policy: &TaskPolicy,
        netns: Option<&fs::File>,
    ) -> crate::Result<Option<TaskResolver>> {
        let ResolvedNetwork::Http(domains) = self.resolved(&record.network) else {
            return Ok(None);
        };
        let _runtime = self.runtime.enter();
        TaskResolver::start(
            &record.id,
            &domains,
            &policy.allowed,
            &self.settings_for(),
            set.allowlist(record.number),
            netns.map(|f| f.as_fd()),
        )
        .map(Some)
    }

    fn view(&self, set: &ProgramSet, task: &AgentTask) -> TaskView {
        let mut counters: BTreeMap<String, u64> = match set.counters(task.record.cgroup_id) {
            Ok(counters) => counters
                .into_iter()
                .map(|(c, n)| (c.as_str().to_owned(), n))
                .collect(),
            Err(_) => BTreeMap::new(),
        };
        let mut entries = task.policy.allowed.len() as u64;
        if let Some(resolver) = &task.resolver {
            let report = resolver.report();
            counters.insert("dns_answered".into(), report.answered);
            counters.insert("dns_refused".into(), report.refused);
            counters.insert("dns_rate_limited".into(), report.rate_limited);
            entries += report.held_addresses as u64;
        }
        counters.insert("allowlist_entries".into(), entries);
        let resolved = self.resolved(&task.record.network);
        TaskView {
            id: task.record.id.clone(),
            cgroup: task.record.cgroup.clone(),
            mode: mode_name(task.policy.mode).to_owned(),
            domains: match &resolved {
                ResolvedNetwork::Http(domains) => domains.iter().map(|d| d.to_string()).collect(),
                _ => Vec::new(),
            },
            http_ports: if task.policy.mode == Mode::Http {
                task.policy.http_ports.clone()
            } else {
                Vec::new()
            },
            counters,
            since: task.record.since,
        }
    }

    /// A number no task of this agent had since it started, nor any recorded task: a
    /// number is never reused while entries of its last task could be left over.
    fn new_number(tasks: &mut Tasks) -> Result<u32, Refusal> {
        let number = tasks.next_number;
        tasks.next_number = number.checked_add(1).ok_or_else(|| {
            Refusal::EnforceFailed("task numbers exhausted: restart the agent".into())
        })?;
        Ok(number)
    }

    fn insert(&self, tasks: &mut Tasks, task: AgentTask) {
        if let Ok(mut names) = self.names.write() {
            names.insert(task.record.number, task.record.id.clone());
        }
        tasks.by_id.insert(task.record.id.clone(), task);
    }

    /// Undoes a task that could not be fully set up, or is released: its resolver stops, its
    /// programs detach, its pins and record go.
    fn tear_down(
        &self,
        set: &mut ProgramSet,
        id: &str,
        resolver: Option<TaskResolver>,
        attachment: TaskAttachment,
    ) -> crate::Result<()> {
        if let Some(resolver) = resolver {
            if let Err(e) = self.runtime.block_on(resolver.stop()) {
                tracing::warn!(task = id, error = %e, "stopping the resolver");
            }
        }
        set.detach(attachment)?;
        bpffs::remove_pins(&self.options.link_dir(id))?;
        self.store.remove(id)
    }
}

/// The network namespace of `pid` when it is not the agent's own (the node's); `None` for a
/// task in the node's namespace, or with no process to tell.
fn own_netns(pid: Option<u32>) -> Result<Option<fs::File>, Refusal> {
    let Some(pid) = pid else {
        return Ok(None);
    };
    if target::netns_inode(pid) == target::netns_inode(std::process::id()) {
        return Ok(None);
    }
    let path = format!("/proc/{pid}/ns/net");
    fs::File::open(&path)
        .map(Some)
        .map_err(|e| Refusal::UnknownCgroup(format!("opening {path}: {e}")))
}

fn publish(events: &broadcast::Sender<EventRecord>, task: &str, denial: &Denial) {
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // No reader is fine: the log has it.
    let _ = events.send(EventRecord {
        task: task.to_owned(),
        time_ms,
        denial: DenialRecord::from(denial),
    });
}

fn counter(set: &ProgramSet, task: &AgentTask, which: Counter) -> u64 {
    set.counters(task.record.cgroup_id)
        .ok()
        .and_then(|all| all.into_iter().find(|(c, _)| *c == which))
        .map_or(0, |(_, n)| n)
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::None => "none",
        Mode::Full => "full",
        Mode::Http => "http",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn failed(e: crate::Error) -> Refusal {
    Refusal::EnforceFailed(e.to_string())
}

impl TaskService for Agent {
    fn enforce(&self, request: EnforceRequest) -> Result<TaskView, Refusal> {
        check_id(&request.id)?;
        let (spec, ports) = self.network_of(&request.network)?;
        let policy = policy::for_network(&self.resolved(&spec), &ports);
        let found = target::find(&request.cgroup, &self.options.cgroup_mount)?;
        let mut tasks = self.tasks();
        if tasks.by_id.contains_key(&request.id) {
            return Err(Refusal::DuplicateId(request.id));
        }
        let max_tasks = tasks.set.max_tasks();
        if tasks.by_id.len() >= max_tasks as usize {
            return Err(Refusal::AtCapacity(format!(
                "the agent enforces {max_tasks} tasks, its most (max_tasks in its config)"
            )));
        }
        if let Some(other) = tasks
            .by_id
            .values()
            .find(|t| target::overlaps(&t.record.cgroup, &found.cgroup))
        {
            return Err(Refusal::CgroupTaken(format!(
                "{} overlaps {}, enforced for task {}",
                found.cgroup.display(),
                other.record.cgroup.display(),
                other.record.id
            )));
        }
        let cgroup_id = TaskCgroup::existing(found.cgroup.clone())
            .inode()
            .map_err(|e| Refusal::UnknownCgroup(e.to_string()))?;
        let netns = own_netns(found.pid)?;
        let netns_inode = found.pid.and_then(target::netns_inode);
        if let (Some(_), Some(other)) = (
            &netns,
            tasks
                .by_id
                .values()
                .find(|t| t.record.netns_inode == netns_inode),
        ) {
            // Its loopback is open to every process in it: a None task there could use an
            // HTTP task's resolver.
            return Err(Refusal::CgroupTaken(format!(
                "{}'s network namespace is task {}'s: one task per network namespace of its own",
                found.cgroup.display(),
                other.record.id
            )));
        }
        let record = TaskRecord {
            format: AGENT_FORMAT,
            id: request.id.clone(),
            number: Agent::new_number(&mut tasks)?,
            cgroup: found.cgroup.clone(),
            cgroup_id,
            network: spec,
            http_ports: ports,
            netns_inode,
            since: unix_now(),
        };
        let link_dir = self.options.link_dir(&record.id);
        self.store.save(&record).map_err(failed)?;
        let attached = bpffs::create_pin_dir(&link_dir).and_then(|()| {
            tasks
                .set
                .attach(&record.cgroup, record.number, &policy, &link_dir)
        });
        let attachment = match attached {
            Ok(attachment) => attachment,
            Err(e) => {
                let _ = bpffs::remove_pins(&link_dir);
                let _ = self.store.remove(&record.id);
                return Err(match e {
                    crate::Error::NoRoom(message) => Refusal::AtCapacity(message),
                    e => failed(e),
                });
            }
        };
        let resolver = match self.start_resolver(&tasks.set, &record, &policy, netns.as_ref()) {
            Ok(resolver) => resolver,
            Err(e) => {
                if let Err(cleanup) = self.tear_down(&mut tasks.set, &record.id, None, attachment) {
                    tracing::warn!(task = %record.id, error = %cleanup, "cleaning up a failed enforce");
                }
                return Err(failed(e));
            }
        };
        tracing::info!(task = %record.id, cgroup = %record.cgroup.display(),
            mode = mode_name(policy.mode), "task enforced");
        let task = AgentTask {
            record,
            policy,
            attachment,
            resolver,
            netns,
        };
        let view = self.view(&tasks.set, &task);
        self.insert(&mut tasks, task);
        Ok(view)
    }

    fn change(&self, id: &str, network: NetworkRequest) -> Result<TaskView, Refusal> {
        let (spec, ports) = self.network_of(&network)?;
        let mut tasks = self.tasks();
        self.change_task(&mut tasks, id, spec, ports)
    }

    fn release(&self, id: &str) -> Result<(), Refusal> {
        let mut tasks = self.tasks();
        let task = tasks
            .by_id
            .remove(id)
            .ok_or_else(|| Refusal::NotFound(id.to_owned()))?;
        if let Ok(mut names) = self.names.write() {
            names.remove(&task.record.number);
        }
        self.tear_down(&mut tasks.set, id, task.resolver, task.attachment)
            .map_err(failed)?;
        tracing::info!(task = id, "task released");
        Ok(())
    }

    fn release_if_stopped(&self, id: &str) -> Result<(), Refusal> {
        let cgroup = {
            let tasks = self.tasks();
            let task = tasks
                .by_id
                .get(id)
                .ok_or_else(|| Refusal::NotFound(id.to_owned()))?;
            task.record.cgroup.clone()
        };
        if target::has_processes(&cgroup) {
            return Err(Refusal::StillRunning(format!(
                "task {id} still has processes in {}: not released",
                cgroup.display()
            )));
        }
        self.release(id)
    }

    fn task(&self, id: &str) -> Result<TaskView, Refusal> {
        let tasks = self.tasks();
        let task = tasks
            .by_id
            .get(id)
            .ok_or_else(|| Refusal::NotFound(id.to_owned()))?;
        Ok(self.view(&tasks.set, task))
    }

    fn list(&self) -> Vec<TaskView> {
        let tasks = self.tasks();
        tasks
            .by_id
            .values()
            .map(|task| self.view(&tasks.set, task))
            .collect()
    }

    fn status(&self) -> AgentStatus {
        let tasks = self.tasks();
        AgentStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            tasks: tasks.by_id.len(),
            uptime_s: self.started.elapsed().as_secs(),
            adopted: self.adopted.load(Ordering::Relaxed),
            events_lost: self.kernel_events_lost(&tasks),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.events.subscribe()
    }
}
