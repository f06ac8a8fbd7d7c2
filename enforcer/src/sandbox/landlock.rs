//! Landlock scopes of a None or HTTP task (Linux 6.12+, Landlock ABI 6): it can't connect
//! to abstract unix sockets made outside its sandbox (they belong to the network namespace,
//! so a task in the host's would reach the host's relays), nor signal processes outside it.
//! A kernel without them fails closed: the task does not run.

use landlock::{CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetStatus, Scope};

/// Restricts the calling process and everything it starts from now on.
pub fn scope_to_task() -> Result<(), String> {
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .scope(Scope::AbstractUnixSocket)
        .and_then(|r| r.scope(Scope::Signal))
        .and_then(|r| r.create())
        .and_then(|r| r.restrict_self())
        .map_err(|e| {
            format!(
                "Landlock scopes (ABI 6, Linux 6.12+) are needed to keep the host's abstract \
                 unix sockets from the task: {e}"
            )
        })?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(()),
        other => Err(format!("Landlock scopes not enforced ({other:?})")),
    }
}
