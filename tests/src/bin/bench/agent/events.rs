//! How many denial events a second the agent delivers before some are lost. Tasks in None
//! mode hammer refused connects at rising offered rates, a step each; a reader of the
//! agent's `/v1/events` counts what arrives. Events are lost in the kernel when the shared
//! ring buffer is full (each task's `events_lost` counter, summed in the agent's status),
//! or at the API when this reader falls behind (`{"lagged": N}` lines).

use std::{
    ops::ControlFlow,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use enforcer::agent::{
    api::{CgroupRef, EnforceRequest, EventLine, NetworkRequest},
    client::AgentClient,
};

use super::{cgroups::AgentCgroups, hammer::HammerSample};
use crate::bench::{child, interrupt, lab::SERVER};

/// Hammering tasks, one process each: one a CPU here, so they also take the CPU time the
/// agent needs to keep up, as a flooding task would.
pub const HAMMERS: usize = 2;
/// Offered rates of the steps, events a second for all hammers together; 0 is as fast as
/// they can. The steps stop after the first one the kernel lost events in.
const OFFERED: [u32; 10] = [
    10_000, 20_000, 50_000, 100_000, 150_000, 200_000, 300_000, 400_000, 600_000, 0,
];
/// Length of one step.
pub const STEP_MS: u64 = 500;
/// How long events may keep arriving after a step's hammers stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);
/// A stream that delivers nothing new for this long is drained.
const QUIET: Duration = Duration::from_millis(300);
/// Names of the hammering tasks.
const HAMMER_PREFIX: &str = "hammer-";

/// One step's numbers.
#[derive(Debug)]
pub struct EventStep {
    /// The rate asked for (0: unpaced).
    pub asked: u32,
    /// Refused connects made (one event each) and their rate.
    pub made: u64,
    pub offered_per_s: f64,
    /// Events read from `/v1/events`, and their rate from the step's start to the last.
    pub delivered: u64,
    pub delivered_per_s: f64,
    /// The hammering tasks' `events_lost` counters, and the agent status's, during the step.
    pub kernel_lost: u64,
    pub status_lost: u64,
    /// Events the API dropped for this reader.
    pub lagged: u64,
}

impl EventStep {
    pub fn lossless(&self) -> bool {
        self.kernel_lost == 0 && self.status_lost == 0 && self.lagged == 0
    }
}

/// Every step, in order.
pub fn measure(
    exe: &Path,
    client: &AgentClient,
    cgroups: &AgentCgroups,
) -> anyhow::Result<Vec<EventStep>> {
    let mut hammers = Vec::new();
    for i in 0..HAMMERS {
        let id = format!("{HAMMER_PREFIX}{i}");
        let cgroup = cgroups.add(&id)?;
        client
            .enforce(&none_request(&id, &cgroup))
            .with_context(|| format!("enforcing {id}"))?;
        hammers.push((id, cgroup));
    }
    let reader = EventReader::start(client.clone());
    warm_up(exe, &hammers, &reader)?;
    let mut steps = Vec::new();
    for asked in OFFERED {
        let step = step(exe, client, &hammers, &reader, asked)?;
        let kernel_lost = step.kernel_lost > 0;
        steps.push(step);
        if kernel_lost {
            break;
        }
    }
    Ok(steps)
}

fn none_request(id: &str, cgroup: &Path) -> EnforceRequest {
    EnforceRequest {
        id: id.to_string(),
        cgroup: CgroupRef::Path(cgroup.to_path_buf()),
        network: NetworkRequest {
            network: Some(serde_json::json!({ "Type": "None" })),
            ..NetworkRequest::default()
        },
    }
}

/// A few events, until the first one arrives: the reader is subscribed from then on.
fn warm_up(exe: &Path, hammers: &[(String, PathBuf)], reader: &EventReader) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while reader.delivered() == 0 {
        reader.check()?;
        if Instant::now() > deadline {
            bail!("no denial event reached /v1/events within 5 s");
        }
        hammer(exe, &hammers[..1], 1_000, 20)?;
    }
    // The rest of the warm-up's events arrive before the first step counts.
    thread::sleep(QUIET);
    Ok(())
}

fn step(
    exe: &Path,
    client: &AgentClient,
    hammers: &[(String, PathBuf)],
    reader: &EventReader,
    asked: u32,
) -> anyhow::Result<EventStep> {
    let lost_before = kernel_lost(client, hammers)?;
    let status_before = client.status()?.events_lost;
    let (delivered_before, lagged_before) = (reader.delivered(), reader.lagged());
    let start = Instant::now();
    let samples = hammer(exe, hammers, asked, STEP_MS)?;
    let made: u64 = samples.iter().map(|s| s.refused).sum();
    let seconds = samples.iter().map(|s| s.seconds).fold(0.0, f64::max);
    // Until every event is either read or counted lost, or the stream goes quiet.
    let mut last_progress = (Instant::now(), 0);
    while start.elapsed() < Duration::from_millis(STEP_MS) + DRAIN_LIMIT {
        reader.check()?;
        let lost = kernel_lost(client, hammers)? - lost_before;
        let seen = reader.delivered() - delivered_before + reader.lagged() - lagged_before;
        if seen + lost >= made {
            break;
        }
        if seen > last_progress.1 {
            last_progress = (Instant::now(), seen);
        } else if last_progress.0.elapsed() > QUIET {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let delivered = reader.delivered() - delivered_before;
    let delivering = reader.last_event_at().saturating_duration_since(start);
    Ok(EventStep {
        asked,
        made,
        offered_per_s: made as f64 / seconds,
        delivered,
        delivered_per_s: delivered as f64 / delivering.as_secs_f64().max(1e-3),
        kernel_lost: kernel_lost(client, hammers)? - lost_before,
        status_lost: client.status()?.events_lost - status_before,
        lagged: reader.lagged() - lagged_before,
    })
}

/// Runs a hammer in each of `hammers` at once, sharing `rate` between them.
fn hammer(
    exe: &Path,
    hammers: &[(String, PathBuf)],
    rate: u32,
    duration_ms: u64,
) -> anyhow::Result<Vec<HammerSample>> {
    let args = [
        "agent-hammer".to_string(),
        format!("--addr={}", SERVER.ip()),
        format!("--port={}", SERVER.port()),
        format!("--rate={}", rate / hammers.len() as u32),
        format!("--duration-ms={duration_ms}"),
    ];
    let samples = thread::scope(|scope| {
        let running: Vec<_> = hammers
            .iter()
            .map(|(_, cgroup)| scope.spawn(|| child::run::<HammerSample>(exe, &args, cgroup)))
            .collect();
        running
            .into_iter()
            .map(|h| h.join().expect("a hammer thread panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    interrupt::check()?;
    samples
}

/// The hammering tasks' `events_lost` counters, summed.
fn kernel_lost(client: &AgentClient, hammers: &[(String, PathBuf)]) -> anyhow::Result<u64> {
    let mut lost = 0;
    for (id, _) in hammers {
        let task = client
            .task(id)
            .with_context(|| format!("reading task {id}"))?;
        lost += task.counters.get("events_lost").copied().unwrap_or(0);
    }
    Ok(lost)
}

/// Reads `/v1/events` on a thread of its own until the agent ends the stream (when it is
/// killed at the end of the section), counting the hammering tasks' events.
struct EventReader {
    counts: Arc<Counts>,
    origin: Instant,
}

#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    lagged: AtomicU64,
    /// When the last event arrived, in nanoseconds after `origin`.
    last_ns: AtomicU64,
    failure: Mutex<Option<String>>,
}

impl EventReader {
    fn start(client: AgentClient) -> EventReader {
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let origin = Instant::now();
        thread::spawn(move || {
            let read = client.events(|line| {
                match line {
                    EventLine::Event(event) if event.task.starts_with(HAMMER_PREFIX) => {
                        shared.delivered.fetch_add(1, Ordering::Relaxed);
                        let ns = origin.elapsed().as_nanos() as u64;
                        shared.last_ns.store(ns, Ordering::Relaxed);
                    }
                    EventLine::Event(_) => {}
                    EventLine::Lagged { lagged } => {
                        shared.lagged.fetch_add(lagged, Ordering::Relaxed);
                    }
                }
                ControlFlow::Continue(())
            });
            if let Err(e) = read {
                *shared.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        });
        EventReader { counts, origin }
    }

    fn delivered(&self) -> u64 {
        self.counts.delivered.load(Ordering::Relaxed)
    }

    fn lagged(&self) -> u64 {
        self.counts.lagged.load(Ordering::Relaxed)
    }

    fn last_event_at(&self) -> Instant {
        self.origin + Duration::from_nanos(self.counts.last_ns.load(Ordering::Relaxed))
    }

    /// Fails once the stream has failed: nothing more would be counted.
    fn check(&self) -> anyhow::Result<()> {
        let failure = self
            .counts
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match failure.as_ref() {
            Some(e) => bail!("reading /v1/events: {e}"),
            None => Ok(()),
        }
    }
}
