//! The OCI runtime hook (`enforcer oci-hook`): what to ask the node agent for a container,
//! read from the container's state and annotations.
//!
//! The hook runs twice per container:
//! - at `createRuntime` ([`HookStage::CreateRuntime`]): the container's process and cgroup
//!   exist, its program has not started. [`decide`] turns the annotations into an
//!   [`EnforceRequest`] for the container's cgroup (by its pid), or leaves the container
//!   alone. Any error must make the hook exit non-zero: the runtime then refuses to start
//!   the container, so a container never runs with a network it did not ask for.
//! - at `poststop` ([`HookStage::Poststop`]): [`release_id`] names the task to release.
//!
//! A container asks for its network with these annotations (see [`ANNOTATION_TYPE`],
//! [`ANNOTATION_DOMAINS`], [`ANNOTATION_HTTP_PORTS`]):
//!
//! ```text
//! io.bacalhau.network.type:       HTTP
//! io.bacalhau.network.domains:    crates.io, .github.com
//! io.bacalhau.network.http-ports: 443
//! ```

mod annotations;
pub mod hook;
#[cfg(test)]
mod tests;

use std::{
    collections::BTreeMap,
    fmt,
    io::Read,
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

use crate::agent::api::{self, CgroupRef, EnforceRequest};

/// Every annotation of the enforcer starts with this. An unknown key under it is an error,
/// so that a misspelt annotation never leaves a rule out.
pub const ANNOTATION_PREFIX: &str = "io.bacalhau.network.";

/// The network type: `None`, `Full`, `Host`, `HTTP`, `Bridge` or `Default`, in any case (as
/// Bacalhau's `Network.Type`). Required when any other annotation of the enforcer is given.
pub const ANNOTATION_TYPE: &str = "io.bacalhau.network.type";

/// The domains an HTTP container may reach, separated by commas and/or whitespace, each as
/// `--domain` takes it (`name`, `.wildcard`, `*.wildcard`, an address or a CIDR). Only with
/// type HTTP.
pub const ANNOTATION_DOMAINS: &str = "io.bacalhau.network.domains";

/// The TCP ports HTTP mode allows, separated by commas and/or whitespace (at most
/// [`MAX_HTTP_PORTS`](enforcer_common::MAX_HTTP_PORTS)); the agent's default without it. Only
/// with type HTTP or Default (which the node may resolve to HTTP).
pub const ANNOTATION_HTTP_PORTS: &str = "io.bacalhau.network.http-ports";

/// The largest container state read from stdin (1 MiB); a real one is a few hundred bytes.
pub const MAX_STATE_BYTES: usize = 1 << 20;

/// The largest bundle `config.json` read for its annotations (16 MiB): a config carries the
/// container's whole environment and mounts, so it may be large, but not unbounded.
pub const MAX_CONFIG_BYTES: usize = 16 << 20;

/// The stage the hook runs at: `enforcer oci-hook --stage create-runtime|poststop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HookStage {
    /// Enforce the container's network before its program starts.
    #[default]
    #[value(name = "create-runtime", alias = "createRuntime")]
    CreateRuntime,
    /// Release the container's task once it has stopped.
    #[value(name = "poststop")]
    Poststop,
}

/// The state the runtime passes a hook on stdin (runtime-spec "State"). Unknown fields are
/// ignored: newer runtimes add some.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// `creating` at createRuntime, `stopped` at poststop.
    pub status: String,
    /// The container's process, in the runtime's pid namespace; absent once it has stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The bundle directory, holding `config.json`.
    pub bundle: PathBuf,
    /// Absent (rather than empty) when the container has none, as runc 1.1 passes it; then
    /// the bundle's `config.json` is the authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What the node does with a container that has none of the enforcer's annotations: the
/// agent config's `default_network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnannotatedPolicy {
    /// Leave it alone: only annotated containers are enforced.
    #[default]
    Skip,
    /// Enforce Type None: a container gets network only by asking for it.
    None,
}

impl FromStr for UnannotatedPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(UnannotatedPolicy::Skip),
            "none" => Ok(UnannotatedPolicy::None),
            _ => Err(format!(
                "unknown default network {s:?} for unannotated containers; accepted: skip, none"
            )),
        }
    }
}

impl fmt::Display for UnannotatedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnannotatedPolicy::Skip => "skip",
            UnannotatedPolicy::None => "none",
        })
    }
}

/// What the createRuntime hook does for a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookDecision {
    /// Nothing: the container runs unenforced.
    Leave,
    /// Ask the agent to enforce this, and start the container only once it has.
    Enforce(EnforceRequest),
}

/// Why the hook refuses a container (it exits non-zero and the runtime does not start it).
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("reading the container state from stdin: {0}")]
    ReadState(std::io::Error),
    #[error("the container state is larger than {MAX_STATE_BYTES} bytes")]
    StateTooLarge,
    #[error("the container state is not OCI state JSON: {0}")]
    ParseState(serde_json::Error),
    #[error(
        "container {id}: the state has no pid; run `enforcer oci-hook` as a createRuntime hook"
    )]
    NoPid { id: String },
    #[error("container id {id:?} can't name its task: {reason}")]
    BadId { id: String, reason: String },
    #[error("container {id}: {message}")]
    BadAnnotation { id: String, message: String },
    #[error("container {id}: no annotations in the state, and {}: {message}", .path.display())]
    BundleConfig {
        id: String,
        path: PathBuf,
        message: String,
    },
}

/// Reads the container state the runtime writes to the hook's stdin, at most
/// [`MAX_STATE_BYTES`].
pub fn read_state(reader: impl Read) -> Result<ContainerState, HookError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_STATE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(HookError::ReadState)?;
    if bytes.len() > MAX_STATE_BYTES {
        return Err(HookError::StateTooLarge);
    }
    serde_json::from_slice(&bytes).map_err(HookError::ParseState)
}

/// Decides the createRuntime stage for `state`, on a node whose setting for unannotated
/// containers is `node_default`.
///
/// The annotations come from the state, or from the bundle's `config.json` when the state
/// has none. A container with none of the enforcer's annotations is left alone
/// ([`UnannotatedPolicy::Skip`]) or enforced with Type None ([`UnannotatedPolicy::None`]).
/// Otherwise the annotations must be valid as a whole; the request names the container's
/// cgroup by its pid and the task by the container id (which must pass [`api::check_id`]:
/// it is never rewritten, so `poststop` releases the same id).
pub fn decide(
    state: &ContainerState,
    node_default: UnannotatedPolicy,
) -> Result<HookDecision, HookError> {
    let all = annotations_of(state)?;
    let bad_annotation = |message| HookError::BadAnnotation {
        id: state.id.clone(),
        message,
    };
    let network = match annotations::network_of(&all).map_err(bad_annotation)? {
        Some(network) => network,
        None => match node_default {
            UnannotatedPolicy::Skip => return Ok(HookDecision::Leave),
            UnannotatedPolicy::None => annotations::unannotated_none(),
        },
    };
    let id = task_id(state)?;
    let pid = state
        .pid
        .filter(|&pid| pid != 0)
        .ok_or_else(|| HookError::NoPid { id: id.clone() })?;
    Ok(HookDecision::Enforce(EnforceRequest {
        id,
        cgroup: CgroupRef::Pid(pid),
        network,
    }))
}

/// The task id to release at poststop: the container id, checked as [`decide`] checks it.
pub fn release_id(state: &ContainerState) -> Result<String, HookError> {
    task_id(state)
}

/// The container id as a task id: unchanged, or an error when [`api::check_id`] refuses it.
fn task_id(state: &ContainerState) -> Result<String, HookError> {
    api::check_id(&state.id).map_err(|refusal| HookError::BadId {
        id: state.id.clone(),
        reason: refusal.to_string(),
    })?;
    Ok(state.id.clone())
}

/// The state's annotations, else those of the bundle's `config.json`.
fn annotations_of(state: &ContainerState) -> Result<BTreeMap<String, String>, HookError> {
    if let Some(annotations) = &state.annotations {
        return Ok(annotations.clone());
    }
    let path = state.bundle.join("config.json");
    read_config_annotations(&path).map_err(|message| HookError::BundleConfig {
        id: state.id.clone(),
        path,
        message,
    })
}

/// The `annotations` of a bundle config, empty when it has none.
fn read_config_annotations(path: &Path) -> Result<BTreeMap<String, String>, String> {
    #[derive(Deserialize)]
    struct BundleConfig {
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(format!("larger than {MAX_CONFIG_BYTES} bytes"));
    }
    let config: BundleConfig = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    Ok(config.annotations)
}
