//! The node agent's HTTP/JSON API: the requests it takes and the answers it gives, shared
//! by the daemon, its CLI client and the OCI hook.
//!
//! Routes (all JSON unless said otherwise):
//! - `POST /v1/tasks` with an [`EnforceRequest`]: enforces a task; `201` with its [`TaskView`].
//! - `PUT /v1/tasks/{id}/network` with a [`NetworkRequest`]: changes a task's network.
//! - `DELETE /v1/tasks/{id}`: releases a task; `204`. With `?if_stopped=true`, only if no
//!   process is left in its cgroup (`409 still_running` otherwise): what a runtime's poststop
//!   hook asks, so a container refused for a duplicate id can't release the other's task.
//! - `GET /v1/tasks`: every task, `[TaskView]`; `GET /v1/tasks/{id}`: one.
//! - `GET /v1/events`: denial events as NDJSON, one [`EventLine`] a line, as they happen: an
//!   [`EventRecord`], or `{"lagged": N}` when this reader fell behind and N events were
//!   dropped for it (the stream goes on).
//! - `GET /v1/status`: an [`AgentStatus`].
//! - `GET /metrics`: Prometheus text format.
//!
//! Errors are an [`ApiError`] body with a 4xx or 5xx status: a [`Refusal`]'s, or `not_found`
//! (404) for an unknown route and `method_not_allowed` (405) for a known route with another
//! method. Request bodies are JSON (`Content-Type: application/json`) of at most
//! [`MAX_BODY_BYTES`].

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::events::Denial;

/// Where the agent listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/enforcer/agent.sock";

/// Longest task id: ids name pin directories and state files.
pub const MAX_ID_LEN: usize = 128;

/// Largest request body accepted (a job spec is at most 1 MiB of it).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// `POST /v1/tasks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforceRequest {
    /// The caller's name for the task: 1 to [`MAX_ID_LEN`] of `[A-Za-z0-9_.-]`, not starting
    /// with `.`.
    pub id: String,
    /// The task's cgroup.
    pub cgroup: CgroupRef,
    #[serde(flatten)]
    pub network: NetworkRequest,
}

/// A cgroup by its path (absolute, under the cgroup2 mount) or by a process in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CgroupRef {
    Path(PathBuf),
    Pid(u32),
}

/// A task's network: given as type and domains, or as a Bacalhau job spec. Exactly one of
/// `network` and `job` (see [`NetworkRequest::check_shape`]).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRequest {
    /// Bacalhau's `{"Type": ..., "Domains": [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<serde_json::Value>,
    /// A Bacalhau job spec (JSON or YAML text) and, for a job of several tasks, which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRef>,
    /// TCP ports HTTP mode allows; the agent's default when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_ports: Vec<u16>,
}

impl NetworkRequest {
    /// Refuses a request that gives both `network` and `job`, or neither.
    pub fn check_shape(&self) -> Result<(), Refusal> {
        match (&self.network, &self.job) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (Some(_), Some(_)) => Err(Refusal::BadRequest(
                "give either network or job, not both".to_owned(),
            )),
            (None, None) => Err(Refusal::BadRequest(
                "give network ({\"Type\": ..., \"Domains\": [...]}) or job ({\"spec\": ...})"
                    .to_owned(),
            )),
        }
    }
}

/// A job spec and the task to take the network of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    pub spec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// One enforced task as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: String,
    pub cgroup: PathBuf,
    /// `none`, `full` or `http`.
    pub mode: String,
    /// The allowed domains (HTTP).
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub http_ports: Vec<u16>,
    /// Kernel and resolver counters by name (`connect_allowed`, `dns_answered`, ...).
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    /// Unix time (seconds) the task was enforced.
    pub since: u64,
}

/// One line of `GET /v1/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The task the refusal belongs to.
    pub task: String,
    /// Unix time in milliseconds.
    pub time_ms: u64,
    pub denial: DenialRecord,
}

/// One line of `GET /v1/events`: an event, or how many events this reader missed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventLine {
    Event(EventRecord),
    /// The reader fell behind and this many events were dropped for it.
    Lagged {
        lagged: u64,
    },
}

/// A [`Denial`] as JSON, readable back by clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialRecord {
    pub hook: String,
    pub reason: String,
    pub protocol: String,
    #[serde(default)]
    pub destination: Option<String>,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub comm: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub qtype: Option<String>,
}

impl From<&Denial> for DenialRecord {
    fn from(denial: &Denial) -> DenialRecord {
        DenialRecord {
            hook: denial.hook.as_str().to_owned(),
            reason: denial.reason.as_str().to_owned(),
            protocol: denial.protocol.clone(),
            destination: denial.addr.map(|_| denial.destination()),
            pid: denial.pid,
            comm: denial.comm.clone(),
            name: denial.name.clone(),
            qtype: denial.qtype.clone(),
        }
    }
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub version: String,
    pub tasks: usize,
    /// Seconds since this agent process started.
    pub uptime_s: u64,
    /// Tasks found pinned at start and taken over.
    pub adopted: usize,
    /// Denial events the kernel could not queue.
    pub events_lost: u64,
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable kind: `bad_request`, `bad_spec`, `unknown_cgroup`, `duplicate_id`,
    /// `cgroup_taken`, `not_found`, `at_capacity`, `enforce_failed`, `method_not_allowed`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

/// Why a request was refused, with the HTTP status each kind maps to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Malformed JSON, a missing or extra field, a bad id.
    #[error("{0}")]
    BadRequest(String),
    /// The network spec is not valid.
    #[error("{0}")]
    BadSpec(String),
    /// No such cgroup (or no such process), or not under the cgroup2 mount.
    #[error("{0}")]
    UnknownCgroup(String),
    /// A task with this id is already enforced.
    #[error("task {0} is already enforced")]
    DuplicateId(String),
    /// The cgroup (or an ancestor or descendant of it) is enforced by another task.
    #[error("{0}")]
    CgroupTaken(String),
    /// No task with this id.
    #[error("no task {0}")]
    NotFound(String),
    /// A release for a stopped task, of a task that still has processes.
    #[error("{0}")]
    StillRunning(String),
    /// The agent enforces as many tasks as it may (`max_tasks`).
    #[error("{0}")]
    AtCapacity(String),
    /// The kernel side failed; nothing of the task was left in force.
    #[error("{0}")]
    EnforceFailed(String),
}

impl Refusal {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) | Refusal::BadSpec(_) => 400,
            Refusal::NotFound(_) => 404,
            Refusal::UnknownCgroup(_) => 422,
            Refusal::DuplicateId(_) | Refusal::CgroupTaken(_) | Refusal::StillRunning(_) => 409,
            Refusal::EnforceFailed(_) => 500,
            Refusal::AtCapacity(_) => 503,
        }
    }

    /// The JSON body of this refusal.
    pub fn body(&self) -> ApiError {
        let error = match self {
            Refusal::BadRequest(_) => "bad_request",
            Refusal::BadSpec(_) => "bad_spec",
            Refusal::UnknownCgroup(_) => "unknown_cgroup",
            Refusal::DuplicateId(_) => "duplicate_id",
            Refusal::CgroupTaken(_) => "cgroup_taken",
            Refusal::NotFound(_) => "not_found",
            Refusal::StillRunning(_) => "still_running",
            Refusal::EnforceFailed(_) => "enforce_failed",
            Refusal::AtCapacity(_) => "at_capacity",
        };
        ApiError {
            error: error.to_owned(),
            message: self.to_string(),
        }
    }
}

/// Whether `id` may name a task: 1 to [`MAX_ID_LEN`] of `[A-Za-z0-9_.-]`, not starting with
/// `.` (so it is a safe file name).
pub fn check_id(id: &str) -> Result<(), Refusal> {
    let valid_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if id.is_empty() || id.len() > MAX_ID_LEN || !valid_chars || id.starts_with('.') {
        return Err(Refusal::BadRequest(format!(
            "task id {id:?}: use 1 to {MAX_ID_LEN} of A-Z a-z 0-9 _ . - (not starting with .)"
        )));
    }
    Ok(())
}

/// What the agent does for the API: the HTTP layer calls it, off the async threads for the
/// calls that touch the kernel.
pub trait TaskService: Send + Sync + 'static {
    /// Enforces a task; returns once every process of its cgroup, present and future, is
    /// under its policy. On error nothing of it is in force.
    fn enforce(&self, request: EnforceRequest) -> Result<TaskView, Refusal>;
    /// Replaces a task's network with no moment open or broken in between.
    fn change(&self, id: &str, network: NetworkRequest) -> Result<TaskView, Refusal>;
    /// Releases a task: its cgroup is no longer enforced.
    fn release(&self, id: &str) -> Result<(), Refusal>;
    /// Releases a task only if no process is left in its cgroup.
    fn release_if_stopped(&self, id: &str) -> Result<(), Refusal>;
    fn task(&self, id: &str) -> Result<TaskView, Refusal>;
    fn list(&self) -> Vec<TaskView>;
    fn status(&self) -> AgentStatus;
    /// New denial events from now on.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<EventRecord>;
}
