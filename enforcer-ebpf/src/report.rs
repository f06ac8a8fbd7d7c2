//! Counting decisions and reporting refusals to userspace.

use aya_ebpf::helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid};
use enforcer_common::{Counter, DenyEvent, Flow, Hook, Reason, TaskConfig};

use crate::maps::{COUNTERS, EVENTS};

/// Adds one to `counter` of the task `cfg` is the settings of.
#[inline(always)]
pub fn count(cfg: &TaskConfig, counter: Counter) {
    // An index past the array (never written so) counts nowhere.
    if let Some(slots) = COUNTERS.get_ptr_mut(cfg.counter_index) {
        // SAFETY: this CPU's entry; a program runs to its end on one CPU, and every
        // `Counter` is a slot of `CounterSlots`.
        unsafe { (*slots)[counter as usize] += 1 };
    }
}

/// The process behind a refusal; zero (unknown) when it can't be told.
#[derive(Clone, Copy, Default)]
pub struct Sender {
    pub pid: u32,
    pub comm: [u8; 16],
}

/// Pid and command of the current process (hooks in process context only).
#[inline(always)]
pub fn current_sender() -> Sender {
    Sender {
        pid: (bpf_get_current_pid_tgid() >> 32) as u32,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    }
}

/// Sends one denial event; a full ring buffer is counted, never blocks the decision.
#[inline(always)]
pub fn report(cfg: &TaskConfig, hook: Hook, reason: Reason, flow: &Flow, sender: &Sender) {
    let Some(mut entry) = EVENTS.reserve::<DenyEvent>(0) else {
        count(cfg, Counter::EventsLost);
        return;
    };
    let family = if flow.addr.is_v4 { 4 } else { 6 };
    entry.write(DenyEvent {
        addr: flow.addr.octets(),
        pid: sender.pid,
        port: if flow.has_port { flow.port } else { 0 },
        hook: hook as u8,
        reason: reason as u8,
        family,
        protocol: flow.protocol,
        _pad: [0; 2],
        comm: sender.comm,
        task: cfg.task,
    });
    entry.submit(0);
}
