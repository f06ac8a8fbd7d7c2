//! `enforcer oci-hook`: one container, one stage. At createRuntime the container is enforced
//! through the agent before its program starts, or the hook fails and the runtime does not
//! start it; at poststop its task is released.

use std::io::Read;

use super::{decide, read_state, release_id, HookDecision, HookStage, UnannotatedPolicy};
use crate::agent::client::{AgentClient, ClientError};

/// What the hook did, for its one line on stderr.
#[derive(Debug, PartialEq, Eq)]
pub enum HookOutcome {
    Enforced { id: String, mode: String },
    LeftAlone { id: String },
    Released { id: String },
}

impl std::fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookOutcome::Enforced { id, mode } => {
                write!(f, "container {id}: network {mode} enforced")
            }
            HookOutcome::LeftAlone { id } => write!(f, "container {id}: not enforced; left alone"),
            HookOutcome::Released { id } => write!(f, "container {id}: released"),
        }
    }
}

/// Runs the hook for the state on `stdin`. An error means the container must not start
/// (createRuntime) and says why.
pub fn run(
    stage: HookStage,
    unannotated: UnannotatedPolicy,
    agent: &AgentClient,
    stdin: impl Read,
) -> Result<HookOutcome, String> {
    let state = read_state(stdin).map_err(|e| e.to_string())?;
    match stage {
        HookStage::CreateRuntime => match decide(&state, unannotated).map_err(|e| e.to_string())? {
            HookDecision::Leave => Ok(HookOutcome::LeftAlone { id: state.id }),
            HookDecision::Enforce(request) => match agent.enforce(&request) {
                Ok(view) => Ok(HookOutcome::Enforced {
                    id: state.id,
                    mode: view.mode,
                }),
                Err(e) => Err(format!(
                    "container {}: its network can't be enforced, so it must not start: {e}",
                    state.id
                )),
            },
        },
        HookStage::Poststop => {
            // An id that can't name a task was never enforced (createRuntime refuses it, or
            // left the container alone): nothing to release. runc takes ids (`a+b`) that
            // task ids don't.
            let Ok(id) = release_id(&state) else {
                return Ok(HookOutcome::LeftAlone { id: state.id });
            };
            // Only a task with no process left: a container refused for a duplicate id
            // must not release the other container's task.
            match agent.release_if_stopped(&id) {
                Ok(()) => Ok(HookOutcome::Released { id }),
                // Never enforced (left alone), released already, or another's.
                Err(ClientError::Api {
                    status: 404 | 409, ..
                }) => Ok(HookOutcome::LeftAlone { id }),
                Err(e) => Err(format!("container {id}: releasing its task: {e}")),
            }
        }
    }
}
