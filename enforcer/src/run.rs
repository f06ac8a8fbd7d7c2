//! `enforcer run`: one task, enforced from its first instruction to its last process.

use std::{
    ffi::OsString,
    fs::File,
    net::{IpAddr, SocketAddr},
    os::{
        fd::{AsFd, FromRawFd, OwnedFd},
        unix::process::ExitStatusExt,
    },
    path::PathBuf,
    process::ExitStatus,
    time::Duration,
};

use enforcer_common::Counter;
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::watch,
};

use crate::{
    allowlist::AllowlistMaps,
    bpffs,
    cgroup::{cgroup2_mount, TaskCgroup},
    enforcement::{self, AllowedNet, Enforcement, TaskPolicy},
    error::{Error, Result},
    events, gc,
    netns_lock::NetnsLock,
    node, paths, policy, pump, resolve,
    resolver::{ResolverSettings, TaskResolver},
    sandbox::{self, Confinement, Identity},
    spec::ResolvedNetwork,
    state::RunState,
    task::EnforcedTask,
};

/// HTTP ports allowed when none are given.
pub const DEFAULT_HTTP_PORTS: [u16; 2] = [80, 443];

/// Everything `enforcer run` needs to know.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub network: ResolvedNetwork,
    pub http_ports: Vec<u16>,
    /// Where HTTP mode's resolver looks allowed names up; empty means the node's resolvers.
    pub upstream: Vec<IpAddr>,
    /// How long a looked-up address stays allowed at least, whatever its TTL.
    pub dns_min_ttl: Duration,
    /// Internal addresses (private, loopback, link-local...) that names may still open.
    pub allow_internal: Vec<AllowedNet>,
    /// A network namespace for the task to join (`/run/netns/NAME`, `/proc/PID/ns/net`);
    /// default: the enforcer's.
    pub netns: Option<PathBuf>,
    /// Parent of the task cgroup; default `<cgroup2 mount>/enforcer`.
    pub cgroup_parent: Option<PathBuf>,
    /// Default: `task-<pid>`.
    pub task_id: Option<String>,
    pub identity: Option<Identity>,
    pub command: Vec<OsString>,
}

/// The resolver settings of `options`: the node's resolvers unless some were given.
fn resolver_settings(options: &RunOptions) -> Result<ResolverSettings> {
    let upstream = resolve::upstream_servers(&options.upstream)?
        .into_iter()
        .map(|ip| SocketAddr::new(ip, enforcer_common::DNS_PORT))
        .collect();
    Ok(ResolverSettings {
        upstream,
        min_ttl: options.dns_min_ttl,
        allow_internal: options.allow_internal.clone(),
        hooks: Default::default(),
    })
}

/// Runs the task and returns its exit status. Nothing of the task runs unless every
/// part of enforcement is in place.
pub async fn run(options: RunOptions) -> Result<ExitStatus> {
    if !node::is_root() {
        return Err(Error::NotRoot);
    }
    if options.command.is_empty() {
        return Err(Error::Usage("no command given to run".into()));
    }
    let task_id = options
        .task_id
        .clone()
        .unwrap_or_else(|| format!("task-{}", std::process::id()));
    validate_task_id(&task_id)?;
    refuse_inherited_sockets(restricts_network(&options.network))?;
    for task in gc::collect_dead_runs() {
        tracing::info!(task, "collected a dead run");
    }
    let policy = policy::for_network(&options.network, &options.http_ports);
    let netns = match &options.netns {
        Some(path) => Some(File::open(path).map_err(Error::io("opening network namespace", path))?),
        None => None,
    };
    let _netns_lock = NetnsLock::take(netns.as_ref().zip(options.netns.as_deref()))?;
    bpffs::ensure_mounted()?;
    let parent = match &options.cgroup_parent {
        Some(parent) => parent.clone(),
        None => cgroup2_mount()?.join(paths::DEFAULT_CGROUP_PARENT),
    };

    // The state goes first, so a crash at any later point is found by `gc`; it names the
    // cgroup by inode only once this run has created it.
    let mut state = RunState::for_this_process(&task_id, &parent.join(&task_id))?;
    state.save()?;
    let cgroup = match TaskCgroup::create(&parent, &task_id) {
        Ok(cgroup) => cgroup,
        Err(e) => {
            log_cleanup_failure(&task_id, state.remove());
            return Err(e);
        }
    };
    if let Err(e) = cgroup.inode().and_then(|inode| state.record_cgroup(inode)) {
        log_cleanup_failure(&task_id, cgroup.remove().and_then(|()| state.remove()));
        return Err(e);
    }
    let cgroup_path = cgroup.path().to_path_buf();
    let result = run_in_cgroup(&options, &policy, netns.as_ref(), cgroup, &task_id).await;
    // Kept only when something could not be removed: `gc` finishes the job.
    if result.is_ok() || !cgroup_path.exists() {
        state.remove()?;
    }
    result
}

async fn run_in_cgroup(
    options: &RunOptions,
    policy: &TaskPolicy,
    netns: Option<&File>,
    cgroup: TaskCgroup,
    task_id: &str,
) -> Result<ExitStatus> {
    let pin_dir = paths::pin_dir(task_id);
    let mut task = EnforcedTask::attach(cgroup, Some((policy, &pin_dir)))?;
    tracing::info!(task = task_id, cgroup = %task.cgroup().path().display(), mode = ?policy.mode,
        allowed = policy.allowed.len(), "enforcement attached");
    if options.identity.is_none() && node::is_root() {
        tracing::warn!(
            task = task_id,
            "the task runs as root: it can't undo its network \
            enforcement, but it owns root's files on this node; use --user"
        );
    }

    let resolver = match start_resolver(options, policy, netns, &pin_dir, task_id) {
        Ok(resolver) => resolver,
        Err(e) => {
            log_cleanup_failure(task_id, task.teardown(TASK_KILL_TIMEOUT));
            return Err(e);
        }
    };
    let enforcement = task
        .enforcement_mut()
        .ok_or(Error::Missing("enforcement"))?;
    let events = enforcement.take_events()?;
    let logger = enforcement.take_logger();
    let lost = enforcement.lost_events();

    let (stop_tx, stop_rx) = watch::channel(false);
    let event_pump = tokio::spawn(events::log_denials(
        events,
        task_id.to_string(),
        lost,
        stop_rx.clone(),
    ));
    let log_pump = logger
        .map(|logger| tokio::spawn(pump::drain_until_stopped(logger, stop_rx, |l| l.flush())));

    let status = spawn_and_wait(options, netns, task.cgroup(), task_id).await;

    // Whatever the task left behind dies, and its cgroup goes (which only an empty cgroup
    // can), before anything is detached.
    let emptied = task.end_processes(TASK_KILL_TIMEOUT);
    if let Some(resolver) = resolver {
        match resolver.stop().await {
            Ok(r) => tracing::info!(
                task = task_id,
                answered = r.answered,
                refused = r.refused,
                rate_limited = r.rate_limited,
                upstream_failures = r.upstream_failures,
                events_lost = r.events_lost,
                held_addresses = r.held_addresses,
                evicted_holds = r.evicted_holds,
                "resolver stopped"
            ),
            Err(e) => tracing::warn!(task = task_id, error = %e, "stopping the resolver"),
        }
    }
    let _ = stop_tx.send(true);
    let _ = event_pump.await;
    if let Some(pump) = log_pump {
        let _ = pump.await;
    }
    if let Some(Ok(counters)) = task.enforcement().map(Enforcement::counters) {
        log_summary(task_id, &counters);
    }
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            // The task never ran. With its cgroup gone nothing is left to enforce on;
            // otherwise the pins stay for `gc`, and the first error is the one reported.
            if emptied.is_ok() {
                log_cleanup_failure(task_id, task.release());
            }
            return Err(e);
        }
    };
    let after_task = |source| Error::AfterTask {
        code: exit_code(status),
        source: Box::new(source),
    };
    emptied.map_err(after_task)?;
    task.release().map_err(after_task)?;
    Ok(status)
}

/// The task's counters, one field each (numbers in JSON logs).
fn log_summary(task_id: &str, counters: &[(Counter, u64)]) {
    let get = |wanted: Counter| {
        counters
            .iter()
            .find(|(counter, _)| *counter == wanted)
            .map_or(0, |(_, n)| *n)
    };
    tracing::info!(
        task = task_id,
        connect_allowed = get(Counter::ConnectAllowed),
        connect_denied = get(Counter::ConnectDenied),
        sendmsg_allowed = get(Counter::SendmsgAllowed),
        sendmsg_denied = get(Counter::SendmsgDenied),
        packets_allowed = get(Counter::PacketsAllowed),
        packets_denied = get(Counter::PacketsDenied),
        sockets_denied = get(Counter::SocketsDenied),
        sockopt_denied = get(Counter::SockoptDenied),
        dns_steered = get(Counter::DnsSteered),
        events_lost = get(Counter::EventsLost),
        "task finished"
    );
}

/// HTTP mode's resolver, listening in the task's network namespace before the task starts.
fn start_resolver(
    options: &RunOptions,
    policy: &TaskPolicy,
    netns: Option<&File>,
    pin_dir: &std::path::Path,
    task_id: &str,
) -> Result<Option<TaskResolver>> {
    let ResolvedNetwork::Http(domains) = &options.network else {
        return Ok(None);
    };
    let settings = resolver_settings(options)?;
    let resolver = TaskResolver::start(
        task_id,
        domains,
        &policy.allowed,
        &settings,
        AllowlistMaps::open(pin_dir, enforcement::ONLY_TASK)?,
        netns.map(|f| f.as_fd()),
    )?;
    tracing::info!(task = task_id, upstream = ?settings.upstream, "resolver listening");
    Ok(Some(resolver))
}

/// None and HTTP keep the task from every door that is not IP (see [`Confinement`]).
fn restricts_network(network: &ResolvedNetwork) -> bool {
    !matches!(network, ResolvedNetwork::Full)
}

/// Cleanup after a failure is logged, not returned: the failure that stopped the task is the
/// error worth reporting, and `gc` finishes what cleanup could not.
fn log_cleanup_failure(task_id: &str, cleanup: Result<()>) {
    if let Err(e) = cleanup {
        tracing::warn!(task = task_id, error = %e, "cleaning up after a failed start; `enforcer gc` will finish it");
    }
}

/// An inet socket handed to the task on stdin, stdout or stderr was made outside its
/// cgroup, so no hook of the task would judge it: refuse to start rather than leak. For
/// None and HTTP, so is any socket but a unix one.
/// (Every other descriptor is closed in the child.)
fn refuse_inherited_sockets(restrict_network: bool) -> Result<()> {
    for fd in 0..3 {
        let mut domain: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt on our own standard descriptors; fails harmlessly on non-sockets.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DOMAIN,
                (&mut domain as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
        // None and HTTP may not create any socket but unix, inet and routing netlink; a
        // vsock or packet socket passed in would be a way around that.
        let not_unix = domain != libc::AF_UNIX;
        if rc == 0 && (inet || (restrict_network && not_unix)) {
            return Err(Error::Usage(format!(
                "file descriptor {fd} is a network socket made outside the task; it would \
                 bypass enforcement (redirect it to a file or pipe)"
            )));
        }
    }
    Ok(())
}

async fn spawn_and_wait(
    options: &RunOptions,
    netns: Option<&File>,
    cgroup: &TaskCgroup,
    task_id: &str,
) -> Result<ExitStatus> {
    let (events_read, events_write) = sandbox_events_pipe()?;
    let confinement = Confinement {
        identity: options.identity,
        restrict_network: restricts_network(&options.network),
        netns: netns.map(|f| f.as_fd()),
    };
    let command = sandbox::task_command(
        &options.command,
        cgroup.path(),
        &confinement,
        events_write.as_fd(),
    )?;
    let mut child = tokio::process::Command::from(command)
        .spawn()
        .map_err(|e| Error::Sandbox(format!("starting the task's init: {e}")))?;
    drop(events_write);
    let sandbox_denials = tokio::spawn(sandbox::log_sandbox_denials(
        events_read,
        task_id.to_string(),
    ));
    let pid = child.id().expect("child pid before wait") as i32;
    let mut forwarders = Vec::new();
    for kind in FORWARDED_SIGNALS {
        let mut stream = signal(kind).map_err(Error::io("listening for signals", "/"))?;
        let cgroup_kill = cgroup.path().join("cgroup.kill");
        let ends_task = ENDING_SIGNALS.contains(&kind);
        forwarders.push(tokio::spawn(async move {
            while stream.recv().await.is_some() {
                // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
                unsafe { libc::kill(pid, kind.as_raw_value()) };
                if ends_task {
                    // A task that ignores the request, or froze its own cgroup, is not
                    // waited for forever.
                    let kill = cgroup_kill.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(STOP_GRACE).await;
                        let _ = std::fs::write(kill, "1");
                    });
                }
            }
        }));
    }
    let status = child.wait().await;
    forwarders.iter().for_each(|f| f.abort());
    // The init wrote its last report before it exited: the pipe ends there.
    let _ = tokio::time::timeout(Duration::from_secs(1), sandbox_denials).await;
    status.map_err(Error::io("waiting for the task's init", "/"))
}

/// The pipe the task's init reports sandbox denials on (both ends close-on-exec; the
/// init gets the write end at a fixed number).
fn sandbox_events_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::io("creating a pipe", "/")(
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Signals passed on to the task instead of ending the enforcer.
const FORWARDED_SIGNALS: [SignalKind; 6] = [
    SignalKind::interrupt(),
    SignalKind::terminate(),
    SignalKind::hangup(),
    SignalKind::quit(),
    SignalKind::user_defined1(),
    SignalKind::user_defined2(),
];

/// Forwarded signals that ask the task to end; [`STOP_GRACE`] later its cgroup is killed.
const ENDING_SIGNALS: [SignalKind; 4] = [
    SignalKind::interrupt(),
    SignalKind::terminate(),
    SignalKind::hangup(),
    SignalKind::quit(),
];
/// How long a task may take to end after being asked to.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long the kernel may take to end a task's processes once they are killed.
const TASK_KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Task ids name a cgroup, a pin directory and a state file: keep them plain.
fn validate_task_id(id: &str) -> Result<()> {
    // No '.': bpffs refuses names with dots, and cgroup files (cgroup.procs) have them.
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "task id {id:?}: use 1-64 letters, digits, '-' or '_'"
        )))
    }
}

/// The shell-style exit code for a finished task: its code, or 128 + the signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
