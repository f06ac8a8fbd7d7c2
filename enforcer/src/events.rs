//! Denial events: decoded from the task's ring buffer and logged, at a bounded rate per task.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use enforcer_common::{proto, Counter, DenyEvent, Hook, Reason};
use serde::Serialize;
use tokio::sync::watch;

use crate::{dns::DnsReason, enforcement::TaskCounters, sandbox::SandboxReason};

/// Denial lines logged per task and second (and the burst allowed after a quiet spell).
const LINES_PER_SECOND: u32 = 100;
/// How often, at most, a task's suppressed denials are summed up in the log.
const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// Where a refusal was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialHook {
    /// A kernel program.
    Kernel(Hook),
    /// The task's seccomp filter, answered by its init.
    Seccomp,
    /// The task's resolver.
    Dns,
}

impl DenialHook {
    /// The name users know it by.
    pub fn as_str(self) -> &'static str {
        match self {
            DenialHook::Kernel(hook) => hook.as_str(),
            DenialHook::Seccomp => "seccomp",
            DenialHook::Dns => "dns",
        }
    }
}

/// Why a refusal was made, by whoever made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenialReason {
    Kernel(Reason),
    Sandbox(SandboxReason),
    Dns(DnsReason),
}

impl DenialReason {
    /// A short stable name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            DenialReason::Kernel(reason) => reason.as_str(),
            DenialReason::Sandbox(reason) => reason.as_str(),
            DenialReason::Dns(reason) => reason.as_str(),
        }
    }
}

impl Serialize for DenialHook {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for DenialReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One refusal, as users read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub hook: DenialHook,
    pub reason: DenialReason,
    pub protocol: String,
    /// Destination; `None` for a socket refused at creation or a refused socket option.
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
    /// Process id and command; `None` for packets sent outside the sender's context.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// The DNS name and query type of a refusal by the task's resolver.
    pub name: Option<String>,
    pub qtype: Option<String>,
}

impl Denial {
    /// The number of the task a ring-buffer record is about.
    pub fn task_number(bytes: &[u8]) -> Option<u32> {
        read_event(bytes).map(|event| event.task)
    }

    /// Decodes one ring-buffer record; `None` for a record of the wrong size or kind.
    pub fn decode(bytes: &[u8]) -> Option<Denial> {
        let event = read_event(bytes)?;
        let hook = Hook::from_raw(event.hook)?;
        let reason = Reason::from_raw(event.reason)?;
        let addr = match event.family {
            4 => {
                let [a, b, c, d, ..] = event.addr;
                Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
            }
            6 => Some(IpAddr::V6(Ipv6Addr::from(event.addr))),
            _ => None,
        };
        let comm_len = event.comm.iter().position(|b| *b == 0).unwrap_or(16);
        let comm = String::from_utf8_lossy(&event.comm[..comm_len]).into_owned();
        Some(Denial {
            hook: DenialHook::Kernel(hook),
            reason: DenialReason::Kernel(reason),
            protocol: protocol_name(event.protocol),
            addr: addr.filter(|_| hook.has_destination()),
            port: (event.port != 0).then_some(event.port),
            pid: (event.pid != 0).then_some(event.pid),
            comm: (!comm.is_empty()).then_some(comm),
            name: None,
            qtype: None,
        })
    }

    /// `addr:port`, `[addr]:port`, `addr` or `-`.
    pub fn destination(&self) -> String {
        match (self.addr, self.port) {
            (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
            (Some(a), Some(p)) => format!("{a}:{p}"),
            (Some(a), None) => a.to_string(),
            (None, _) => "-".into(),
        }
    }
}

fn read_event(bytes: &[u8]) -> Option<DenyEvent> {
    if bytes.len() < std::mem::size_of::<DenyEvent>() {
        return None;
    }
    // SAFETY: size checked; DenyEvent is plain old data, read unaligned.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) })
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMP => "icmp".into(),
        proto::ICMPV6 => "icmpv6".into(),
        proto::RAW => "raw".into(),
        other => format!("ip-proto-{other}"),
    }
}

/// Where to read how many of a task's events the kernel dropped: its counters entry.
pub struct LostEvents {
    pub counters: TaskCounters,
    pub index: u32,
}

impl LostEvents {
    fn get(&self) -> Option<u64> {
        self.counters.get(self.index, Counter::EventsLost).ok()
    }
}

/// Logs the denials of `task` until `stop` turns true, then drains what is left. A task
/// that floods refusals gets [`LINES_PER_SECOND`] lines; the rest are counted and summed up.
pub async fn log_denials(
    ring: RingBuf<MapData>,
    task: String,
    lost: Option<LostEvents>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut log = DenialLog::new(&task, lost);
    crate::pump::drain_until_stopped(ring, stop, |ring| log.drain(ring)).await?;
    log.finish();
    Ok(())
}

/// The denial log of one task (one per source of denials), at a bounded rate.
pub(crate) struct DenialLog<'a> {
    task: &'a str,
    limiter: DenialLimiter,
    /// For the events the kernel dropped (ring buffer full); `None` if they can't be read.
    lost: Option<LostEvents>,
}

impl<'a> DenialLog<'a> {
    /// `counters`, when given, tell how many events the kernel itself dropped.
    pub(crate) fn new(task: &'a str, lost: Option<LostEvents>) -> DenialLog<'a> {
        DenialLog {
            task,
            limiter: DenialLimiter::new(Instant::now()),
            lost,
        }
    }

    fn drain(&mut self, ring: &mut RingBuf<MapData>) {
        while let Some(item) = ring.next() {
            if let Some(denial) = Denial::decode(&item) {
                self.record(&denial);
            }
        }
    }

    /// Logs `denial`, or counts it when the task is over its rate.
    pub(crate) fn record(&mut self, denial: &Denial) {
        let now = Instant::now();
        if self.limiter.admit(now) {
            log_denial(self.task, denial);
        }
        if let Some(suppressed) = self.limiter.notice_due(now) {
            self.log_suppressed(suppressed);
        }
    }

    /// The last word once the task is over: what went unlogged since the last notice.
    pub(crate) fn finish(&mut self) {
        let suppressed = self.limiter.take();
        if suppressed.count > 0 || self.kernel_dropped().is_some_and(|n| n > 0) {
            self.log_suppressed(suppressed);
        }
    }

    fn kernel_dropped(&self) -> Option<u64> {
        self.lost.as_ref()?.get()
    }

    fn log_suppressed(&self, suppressed: Suppressed) {
        tracing::warn!(
            target: "enforcer::denial",
            task = self.task,
            suppressed = suppressed.count,
            suppressed_total = suppressed.total,
            kernel_dropped = self.kernel_dropped(),
            "denials not logged"
        );
    }
}

/// Denials a [`DenialLimiter`] kept out of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suppressed {
    /// Since the previous notice.
    pub count: u64,
    /// Since the task started.
    pub total: u64,
}

/// Bounds the denial lines of one task: a token bucket of [`LINES_PER_SECOND`], refilled
/// continuously. Refused lines are counted, and a notice of them is due at most once per
/// [`NOTICE_INTERVAL`] (the first at once, so the log says when suppression starts).
#[derive(Debug)]
pub struct DenialLimiter {
    tokens: f64,
    refilled_at: Instant,
    pending: u64,
    total: u64,
    noticed_at: Option<Instant>,
}

impl DenialLimiter {
    /// A full bucket at `now`.
    pub fn new(now: Instant) -> DenialLimiter {
        DenialLimiter {
            tokens: f64::from(LINES_PER_SECOND),
            refilled_at: now,
            pending: 0,
            total: 0,
            noticed_at: None,
        }
    }

    /// Whether a denial seen at `now` may be logged; if not, it is counted as suppressed.
    pub fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        let rate = f64::from(LINES_PER_SECOND);
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        self.pending += 1;
        self.total += 1;
        false
    }

    /// The denials suppressed since the last notice, when there are some and a notice is due.
    pub fn notice_due(&mut self, now: Instant) -> Option<Suppressed> {
        let due = self
            .noticed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= NOTICE_INTERVAL);
        if self.pending == 0 || !due {
            return None;
        }
        self.noticed_at = Some(now);
        Some(self.take())
    }

    /// The denials suppressed since the last notice, due or not.
    pub fn take(&mut self) -> Suppressed {
        let count = std::mem::take(&mut self.pending);
        Suppressed {
            count,
            total: self.total,
        }
    }
}

pub(crate) fn log_denial(task: &str, d: &Denial) {
    tracing::warn!(
        target: "enforcer::denial",
        task,
        hook = d.hook.as_str(),
        reason = d.reason.as_str(),
        protocol = %d.protocol,
        destination = %d.destination(),
        pid = d.pid,
        comm = d.comm.as_deref(),
        name = d.name.as_deref(),
        qtype = d.qtype.as_deref(),
        "refused"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(event: &DenyEvent) -> Vec<u8> {
        // SAFETY: DenyEvent is plain old data.
        unsafe {
            std::slice::from_raw_parts(
                (event as *const DenyEvent).cast::<u8>(),
                size_of::<DenyEvent>(),
            )
        }
        .to_vec()
    }

    #[test]
    fn decodes_a_connect_refusal() {
        let mut addr = [0; 16];
        addr[..4].copy_from_slice(&[10, 1, 2, 3]);
        let mut comm = [0; 16];
        comm[..4].copy_from_slice(b"curl");
        let event = DenyEvent {
            addr,
            pid: 42,
            port: 8080,
            hook: Hook::Connect4 as u8,
            reason: Reason::PortNotAllowed as u8,
            family: 4,
            protocol: proto::TCP,
            _pad: [0; 2],
            comm,
            task: 7,
        };
        assert_eq!(Denial::task_number(&raw(&event)), Some(7));
        let denial = Denial::decode(&raw(&event)).unwrap();
        assert_eq!(denial.destination(), "10.1.2.3:8080");
        assert_eq!(denial.reason, DenialReason::Kernel(Reason::PortNotAllowed));
        assert_eq!(denial.reason.as_str(), "port-not-allowed");
        assert_eq!(denial.comm.as_deref(), Some("curl"));
        assert_eq!(denial.pid, Some(42));
    }

    #[test]
    fn decodes_a_sockopt_refusal_without_destination() {
        let event = DenyEvent {
            addr: [0; 16],
            pid: 7,
            port: 0,
            hook: Hook::Setsockopt as u8,
            reason: Reason::MulticastMembership as u8,
            family: 6,
            protocol: proto::UDP,
            _pad: [0; 2],
            comm: [0; 16],
            task: 1,
        };
        let denial = Denial::decode(&raw(&event)).unwrap();
        assert_eq!(denial.hook.as_str(), "setsockopt");
        assert_eq!(denial.reason.as_str(), "multicast-membership");
        assert_eq!(denial.destination(), "-");
        assert_eq!(denial.protocol, "udp");
    }

    #[test]
    fn limiter_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limiter = DenialLimiter::new(start);
        let burst = (0..LINES_PER_SECOND * 2)
            .filter(|_| limiter.admit(start))
            .count();
        assert_eq!(burst, LINES_PER_SECOND as usize);
        // One line per 1/LINES_PER_SECOND seconds after that.
        let tick = Duration::from_secs(1) / LINES_PER_SECOND;
        assert!(limiter.admit(start + tick));
        assert!(!limiter.admit(start + tick));
        // A quiet spell refills the bucket, never beyond one burst.
        let later = start + Duration::from_secs(60);
        let refilled = (0..LINES_PER_SECOND * 2)
            .filter(|_| limiter.admit(later))
            .count();
        assert_eq!(refilled, LINES_PER_SECOND as usize);
    }

    #[test]
    fn limiter_notices_at_once_then_at_most_every_interval() {
        let start = Instant::now();
        let mut limiter = DenialLimiter::new(start);
        assert_eq!(limiter.notice_due(start), None, "nothing suppressed yet");
        for _ in 0..LINES_PER_SECOND + 3 {
            limiter.admit(start);
        }
        let first = Suppressed { count: 3, total: 3 };
        assert_eq!(limiter.notice_due(start), Some(first));
        limiter.admit(start);
        let soon = start + NOTICE_INTERVAL / 2;
        assert_eq!(limiter.notice_due(soon), None, "too soon after the last");
        let later = start + NOTICE_INTERVAL;
        assert_eq!(
            limiter.notice_due(later),
            Some(Suppressed { count: 1, total: 4 })
        );
        assert_eq!(limiter.take(), Suppressed { count: 0, total: 4 });
    }

    #[test]
    fn rejects_short_or_unknown_records() {
        assert_eq!(Denial::decode(&[0; 4]), None);
        assert_eq!(Denial::decode(&[0; size_of::<DenyEvent>()]), None);
    }
}
