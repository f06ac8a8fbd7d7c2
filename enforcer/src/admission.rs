//! Node admission: whether this node runs a job's network spec, under its node policy.
//!
//! A node policy ([`NodePolicy`], a small YAML or JSON file) says which network types the node
//! runs, which domains it allows or denies, and how many domains a task may list. [`admit`]
//! judges every network of a job against it and gives a [`Verdict`] with reasons.
//! `enforcer admit` prints that verdict (and can be Bacalhau's job-selection probe command:
//! [`job_networks`] reads the probe data as well as job specs); `enforcer run --node-policy`
//! refuses a task the policy does not admit ([`check_task`]).
//!
//! Without a node policy every valid network spec is admitted: admission adds refusals, never
//! validation, which stays that of the spec ([`crate::spec`]).
//!
//! ```
//! use enforcer::admission::{admit, job_networks, NodePolicy};
//! use enforcer::spec::SHIPPED_DEFAULT;
//!
//! let policy = NodePolicy::from_str_named(
//!     "types: [None, HTTP]\ndeny_domains: [.example]\n",
//!     "node policy",
//! )?;
//! let job = r#"{"NodeID": "n1", "Job": {"Tasks": [
//!     {"Name": "a", "Network": {"Type": "HTTP", "Domains": ["crates.io", "x.evil.example"]}},
//!     {"Name": "b", "Network": {"Type": "Host"}}]}}"#;
//! let verdict = admit(Some(&policy), &job_networks(job, None, "probe data")?, SHIPPED_DEFAULT);
//! assert!(!verdict.accept);
//! assert_eq!(verdict.reasons, [
//!     "task \"a\": domain x.evil.example is denied: node policy deny_domains entry .example covers it",
//!     "task \"b\": type Host is not accepted (node policy types: None, HTTP)",
//! ]);
//! # Ok::<(), enforcer::admission::AdmitError>(())
//! ```

mod input;
mod patterns;
mod policy;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use input::{job_networks, Source, TaskNetwork, PROBE_DATA_ENV};
pub use policy::{NodePolicy, Refusal};

use crate::spec::{NetworkSpec, ResolvedNetworkKind, SpecError};

/// The most domain refusals listed per task; the rest are counted in one more reason.
pub const MAX_DOMAIN_REASONS: usize = 20;

/// Why a job or a node policy could not be judged (`enforcer admit` exits 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdmitError {
    /// The job spec or probe data is not valid: too large or deep, not JSON or YAML, of an
    /// unexpected shape, without tasks, or with an invalid network.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The older job model's `Spec.Network` is invalid.
    #[error("in {origin}, {at}: {error}")]
    InSpec {
        /// The input, e.g. `probe data in BACALHAU_JOB_SELECTION_PROBE_DATA`.
        origin: String,
        /// Where the network is, e.g. `Job.Spec.Network`.
        at: String,
        /// What is wrong with it.
        error: SpecError,
    },
    /// An input could not be read.
    #[error("could not read {origin}: {error}")]
    Read {
        /// The input.
        origin: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// No `--spec`, no probe data in the environment, and standard input is a terminal.
    #[error(
        "no job to judge: give --spec FILE (or --spec - to read standard input), or the probe \
         data in {PROBE_DATA_ENV}, or pipe it in"
    )]
    NoInput,
    /// The node policy is not valid.
    #[error("{origin}: {message}")]
    Policy {
        /// `node policy PATH`.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// `enforcer run --node-policy`: the policy does not admit the task.
    #[error("the node policy does not admit this task: {}", .reasons.join("; "))]
    NotAdmitted {
        /// Why, one reason each.
        reasons: Vec<String>,
    },
}

/// The outcome of [`admit`]. With serde: `{"accept": bool, "reasons": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// Whether the node runs the job: every network is admitted.
    pub accept: bool,
    /// When refused, every reason (at most [`MAX_DOMAIN_REASONS`] domains per task, then a
    /// count of the rest); when accepted, what was admitted. Each prefixed with `task "NAME": `
    /// for a task of a job.
    pub reasons: Vec<String>,
}

/// Judges every network of a job (`tasks`, from [`job_networks`]) under `policy` on a node
/// whose setting for Type Default is `default`. No policy admits every network.
pub fn admit(
    policy: Option<&NodePolicy>,
    tasks: &[TaskNetwork],
    default: ResolvedNetworkKind,
) -> Verdict {
    let prefix = |task: &TaskNetwork| match &task.task {
        Some(name) => format!("task {name:?}: "),
        None => String::new(),
    };
    let mut refused = Vec::new();
    for task in tasks {
        let Some(policy) = policy else { break };
        let refusals = policy.refusals(&task.spec, default);
        let mut domains_listed = 0;
        let mut domains_unlisted = 0;
        for refusal in refusals {
            if matches!(refusal, Refusal::Denied { .. } | Refusal::NotAllowed { .. }) {
                if domains_listed == MAX_DOMAIN_REASONS {
                    domains_unlisted += 1;
                    continue;
                }
                domains_listed += 1;
            }
            refused.push(format!("{}{refusal}", prefix(task)));
        }
        if domains_unlisted > 0 {
            refused.push(format!(
                "{}{domains_unlisted} more domains are not admitted (not listed)",
                prefix(task)
            ));
        }
    }
    if !refused.is_empty() {
        return Verdict {
            accept: false,
            reasons: refused,
        };
    }
    let mut reasons = Vec::new();
    if policy.is_none() {
        reasons.push("no node policy: every valid network spec is admitted".to_owned());
    }
    for task in tasks {
        let enforced = task.spec.resolve(default).network.to_string();
        let shown = task.spec.to_string();
        let as_enforced = if enforced == shown {
            String::new()
        } else {
            format!(" (enforced as {enforced})")
        };
        reasons.push(format!(
            "{}network {shown} admitted{as_enforced}",
            prefix(task)
        ));
    }
    Verdict {
        accept: true,
        reasons,
    }
}

/// For `enforcer run --node-policy FILE`: reads the policy and refuses `spec` with
/// [`AdmitError::NotAdmitted`] when the policy does not admit it.
pub fn check_task(
    policy_file: &Path,
    spec: &NetworkSpec,
    default: ResolvedNetworkKind,
) -> Result<(), AdmitError> {
    let policy = NodePolicy::from_file(policy_file)?;
    let task = TaskNetwork {
        task: None,
        spec: spec.clone(),
    };
    let verdict = admit(Some(&policy), &[task], default);
    if verdict.accept {
        Ok(())
    } else {
        Err(AdmitError::NotAdmitted {
            reasons: verdict.reasons,
        })
    }
}

/// `enforcer admit`: reads the job from `source` and the policy from `policy_file`, and judges
/// the job's networks (only task `task`'s, if given).
pub fn admit_job(
    source: &Source,
    task: Option<&str>,
    policy_file: Option<&Path>,
    default: ResolvedNetworkKind,
) -> Result<Verdict, AdmitError> {
    let policy = policy_file.map(NodePolicy::from_file).transpose()?;
    let text = source.read()?;
    let networks = job_networks(&text, task, &source.origin())?;
    Ok(admit(policy.as_ref(), &networks, default))
}

impl Verdict {
    /// The verdict line (`accept: ...` or `reject: ...`), then one line per reason, indented.
    pub fn to_text(&self) -> String {
        let mut text = if self.accept {
            "accept: this node runs the job's network\n".to_owned()
        } else {
            "reject: this node does not run the job's network\n".to_owned()
        };
        for reason in &self.reasons {
            text.push_str("  ");
            text.push_str(reason);
            text.push('\n');
        }
        text
    }

    /// `{"accept":bool,"reasons":[...]}` and a newline.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string(self).unwrap_or_else(|_| {
            // Serializing a bool and strings does not fail; stay well-formed if it did.
            format!("{{\"accept\":{},\"reasons\":[]}}", self.accept)
        });
        json.push('\n');
        json
    }
}
