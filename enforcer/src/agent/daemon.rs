//! `enforcer daemon`: loads the shared program set (or reuses what a previous agent pinned),
//! takes over the tasks it finds recorded, then serves the API until told to stop. Stopping,
//! or dying, leaves every task enforced as pinned; only DNS lookups of HTTP tasks fail (closed)
//! until an agent is back.

use std::{
    fs,
    net::SocketAddr,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::Arc,
};

use aya::maps::{MapData, RingBuf};
use tokio::sync::watch;

use super::{
    config::AgentConfig,
    core::{Agent, AgentOptions},
    http,
    metrics::Metrics,
    store::AGENT_FORMAT,
};
use crate::{
    bpffs, cgroup,
    enforcement::{ProgramSet, ALL_PROGRAMS},
    error::{Error, Result},
    events::{DenialLimiter, Suppressed},
    node, pump, resolve,
    resolver::ResolverSettings,
    spec::ResolvedNetworkKind,
};

/// Where the agent pins its programs' maps and its tasks' links, by format.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/enforcer-agent";
/// Where the agent keeps its task records, by format.
pub const DEFAULT_STATE_DIR: &str = "/run/enforcer/agent";

/// What `enforcer daemon` was given.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    pub config: AgentConfig,
    /// Parent of the pinned state (`format-N/` below it).
    pub pin_dir: PathBuf,
    /// Parent of the task records (`format-N/` below it).
    pub state_dir: PathBuf,
    /// What Type Default means on this node.
    pub default_network: ResolvedNetworkKind,
}

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(options: DaemonOptions) -> Result<()> {
    if !node::is_root() {
        return Err(Error::NotRoot);
    }
    bpffs::ensure_mounted()?;
    raise_open_file_limit();
    let pin_dir = current_format_dir(&options.pin_dir)?;
    let state_dir = current_format_dir(&options.state_dir)?;
    // One agent over one set of pins and records, or each would undo the other's tasks.
    // The pins are locked on bpffs itself, which every mount namespace shares.
    let _locks = [lock(&state_dir)?, lock(&pin_dir)?];
    // Before taking tasks over: an agent already answering here makes this one stop.
    let listener = http::bind(&options.config.socket, options.config.group)?;
    let maps_dir = Agent::maps_dir(&pin_dir);
    fs::create_dir_all(&maps_dir).map_err(Error::io("creating", &maps_dir))?;
    let agent_options = AgentOptions {
        pin_dir,
        state_dir,
        cgroup_mount: cgroup::cgroup2_mount()?,
        http_ports: options.config.http_ports.clone(),
        default_network: options.default_network,
        resolver: resolver_settings(&options.config)?,
    };
    let max_tasks = options.config.max_tasks;
    let runtime = tokio::runtime::Handle::current();
    let metrics = Arc::new(Metrics::new());
    let agent_metrics = metrics.clone();
    let (agent, ring) =
        tokio::task::spawn_blocking(move || -> Result<(Agent, RingBuf<MapData>)> {
            let mut set = ProgramSet::load(&maps_dir, ALL_PROGRAMS.to_vec(), max_tasks)?;
            let ring = set.take_events()?;
            let agent = Agent::start(set, agent_options, agent_metrics, runtime)?;
            Ok((agent, ring))
        })
        .await
        .map_err(|e| Error::Invalid(format!("starting the agent: {e}")))??;
    let agent = Arc::new(agent);
    let (stop_events, stopped) = watch::channel(false);
    let pump = tokio::spawn(route_kernel_events(agent.clone(), ring, stopped));
    tracing::info!(socket = %options.config.socket.display(),
        tasks = agent.task_count(), "agent ready");
    let served = http::serve(agent.clone(), metrics, listener, shutdown_signal()).await;
    let _ = stop_events.send(true);
    let _ = pump.await;
    tracing::info!("agent stopped; its tasks stay enforced as pinned");
    served.map_err(|e| Error::Invalid(format!("serving the API: {e}")))
}

/// Holds an exclusive lock on the directory `dir` for as long as the returned descriptor is
/// open; fails at once if another process holds it, however it spelled the path.
fn lock(dir: &Path) -> Result<fs::File> {
    let file = fs::File::open(dir).map_err(Error::io("opening", dir))?;
    // SAFETY: flock(2) on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Error::Invalid(format!(
            "another agent runs over the same state ({} is locked)",
            dir.display()
        )));
    }
    Ok(file)
}

/// Each HTTP task's resolver holds a few sockets: a node of a thousand tasks needs more
/// descriptors than the usual soft limit of 1,024, so the agent takes what the hard limit
/// allows.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("could not raise the open file limit");
            }
        }
    }
}

/// `dir/format-<this format>`, after checking that no other format's state is there: what
/// an agent of another format pinned is never read, and never run over.
fn current_format_dir(dir: &Path) -> Result<PathBuf> {
    let current = format!("format-{AGENT_FORMAT}");
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != current {
                return Err(Error::Invalid(format!(
                    "{} holds {name}, which this agent (format {AGENT_FORMAT}) does not read. \
                     The tasks there stay enforced by their pins; release them with the agent \
                     that made them, or remove {} once their cgroups are gone",
                    dir.display(),
                    entry.path().display()
                )));
            }
        }
    }
    let path = dir.join(current);
    fs::create_dir_all(&path).map_err(Error::io("creating", &path))?;
    // One spelling for one place: records and locks name it the same way.
    fs::canonicalize(&path).map_err(Error::io("resolving", &path))
}

fn resolver_settings(config: &AgentConfig) -> Result<ResolverSettings> {
    let given: Vec<_> = config.upstream.iter().map(SocketAddr::ip).collect();
    let upstream = if config.upstream.is_empty() {
        resolve::upstream_servers(&given)?
            .into_iter()
            .map(|ip| SocketAddr::new(ip, enforcer_common::DNS_PORT))
            .collect()
    } else {
        config.upstream.clone()
    };
    Ok(ResolverSettings {
        upstream,
        min_ttl: config.dns_min_ttl,
        allow_internal: config.allow_internal.clone(),
        hooks: Default::default(),
    })
}

/// Reads the shared ring buffer: each refusal goes to the API's readers and, at a bounded
/// rate for the whole node, to the log.
async fn route_kernel_events(
    agent: Arc<Agent>,
    ring: RingBuf<MapData>,
    stop: watch::Receiver<bool>,
) {
    let mut limiter = DenialLimiter::new(std::time::Instant::now());
    let drained = pump::drain_until_stopped(ring, stop, |ring| {
        while let Some(item) = ring.next() {
            let Some((task, denial)) = agent.route_kernel_event(&item) else {
                continue;
            };
            let now = std::time::Instant::now();
            if limiter.admit(now) {
                crate::events::log_denial(&task, &denial);
            }
            if let Some(Suppressed { count, total }) = limiter.notice_due(now) {
                tracing::warn!(target: "enforcer::denial", suppressed = count,
                    suppressed_total = total, "denials not logged");
            }
        }
    })
    .await;
    if let Err(e) = drained {
        tracing::error!(error = %e, "reading kernel denial events");
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
