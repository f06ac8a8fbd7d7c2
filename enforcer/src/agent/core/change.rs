//! Changing a running task's network with no moment more open than either spec, nor broken
//! between them. The new spec is built beside the old one under a new task number (its
//! entries, its resolver), then one write of the task's cgroup storage switches mode, ports
//! and number at once; only then does the old number's state go.

use super::{failed, mode_name, Agent, AgentTask, Tasks};
use crate::{
    agent::api::{Refusal, TaskView},
    dns::NameMatcher,
    enforcement::{ProgramSet, TaskAttachment, TaskPolicy},
    policy,
    resolver::TaskResolver,
    spec::{NetworkSpec, ResolvedNetwork},
};

/// The new spec's side, ready to be switched to.
struct Prepared {
    attachment: TaskAttachment,
    resolver: Option<TaskResolver>,
}

impl Agent {
    pub(super) fn change_task(
        &self,
        tasks: &mut Tasks,
        id: &str,
        spec: NetworkSpec,
        ports: Vec<u16>,
    ) -> Result<TaskView, Refusal> {
        let new_policy = policy::for_network(&self.resolved(&spec), &ports);
        let number = Agent::new_number(tasks)?;
        let Tasks { set, by_id, .. } = tasks;
        let task = by_id
            .get_mut(id)
            .ok_or_else(|| Refusal::NotFound(id.to_owned()))?;
        let old_record = task.record.clone();
        let mut record = old_record.clone();
        record.network = spec;
        record.http_ports = ports;
        record.number = number;
        // The record first: an agent that dies from here on re-applies the new spec.
        self.store.save(&record).map_err(failed)?;
        let prepared = match self.prepare(set, task, &record, &new_policy) {
            Ok(prepared) => prepared,
            Err(e) => {
                self.restore_record(&old_record);
                return Err(failed(e));
            }
        };
        if let Ok(mut names) = self.names.write() {
            names.insert(number, id.to_owned());
        }
        // The switch: one write, atomic for the task's programs.
        if let Err(e) = set.change(record.cgroup_id, number, &new_policy) {
            self.discard(set, number, prepared);
            self.restore_record(&old_record);
            return Err(failed(e));
        }
        self.retire_old(set, task, &record, prepared.resolver.as_ref());
        task.attachment = prepared.attachment;
        task.resolver = prepared.resolver;
        task.policy = new_policy;
        task.record = record;
        if let Ok(mut names) = self.names.write() {
            names.remove(&old_record.number);
        }
        tracing::info!(
            task = id,
            mode = mode_name(task.policy.mode),
            "task network changed"
        );
        Ok(self.view(set, task))
    }

    /// Puts back the record of a change that did not happen. Should that fail, the next
    /// agent would apply a change its caller was told failed: said loudly.
    fn restore_record(&self, old: &super::TaskRecord) {
        if let Err(e) = self.store.save(old) {
            tracing::error!(task = %old.id, error = %e,
                "could not put back the record of a failed change: a restarted agent would \
                 apply it; release the task, or change it again");
        }
    }

    /// The new number's entries and resolver, taking over the holds of names the new spec
    /// still allows; the task still runs on its old number meanwhile.
    fn prepare(
        &self,
        set: &ProgramSet,
        task: &AgentTask,
        record: &super::TaskRecord,
        policy: &TaskPolicy,
    ) -> crate::Result<Prepared> {
        let mut attachment = TaskAttachment::new(
            record.number,
            record.cgroup_id,
            set.allowlist(record.number),
            ProgramSet::node_addresses()?,
            &self.options.link_dir(&record.id),
        );
        let filled = attachment.fill(policy).and_then(|()| {
            let resolver = self.start_resolver(set, record, policy, task.netns.as_ref())?;
            if let (Some(new), Some(old)) = (&resolver, &task.resolver) {
                take_over_allowed(new, &old.handover(), record, self)?;
            }
            Ok(resolver)
        });
        match filled {
            Ok(resolver) => Ok(Prepared {
                attachment,
                resolver,
            }),
            Err(e) => {
                let _ = set.allowlist(record.number).clear();
                Err(e)
            }
        }
    }

    /// Undoes a prepared side that was never switched to.
    fn discard(&self, set: &ProgramSet, number: u32, prepared: Prepared) {
        if let Some(resolver) = prepared.resolver {
            self.runtime.block_on(resolver.stop_replaced());
        }
        if let Err(e) = set.allowlist(number).clear() {
            tracing::warn!(number, error = %e, "clearing the entries of an undone change");
        }
        if let Ok(mut names) = self.names.write() {
            names.remove(&number);
        }
    }

    /// After the switch: the old resolver stops (every query and connection of it), what it
    /// answered since the first handover goes to the new one, and the old number's entries
    /// go. Failures here leave only entries of a number no program reads any more (swept at
    /// the agent's next start).
    fn retire_old(
        &self,
        set: &ProgramSet,
        task: &mut AgentTask,
        record: &super::TaskRecord,
        new_resolver: Option<&TaskResolver>,
    ) {
        if let Some(old) = task.resolver.take() {
            let last = self.runtime.block_on(old.stop_replaced());
            if let Some(new) = new_resolver {
                if let Err(e) = take_over_allowed(new, &last, record, self) {
                    tracing::warn!(task = %record.id, error = %e, "handing the last holds over");
                }
            }
        }
        if let Err(e) = set.allowlist(task.record.number).clear() {
            tracing::warn!(task = %record.id, error = %e, "clearing the old number's entries");
        }
    }
}

/// `new` takes over `handover`'s holds of names `record`'s spec allows; the others' addresses
/// are retired.
fn take_over_allowed(
    new: &TaskResolver,
    handover: &crate::resolver::Handover,
    record: &super::TaskRecord,
    agent: &Agent,
) -> crate::Result<()> {
    let ResolvedNetwork::Http(domains) = agent.resolved(&record.network) else {
        return Ok(());
    };
    let names = NameMatcher::new(&domains);
    new.take_over(handover, |name| names.allows_text(name))
}
