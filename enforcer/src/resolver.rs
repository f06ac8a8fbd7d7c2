//! The task's resolver (HTTP mode): the only DNS server an HTTP task can reach. The kernel
//! programs steer every query of the task to it, whatever server the task aimed at; it
//! forwards only allowed names upstream and opens, in the task's kernel allowlist, exactly
//! the addresses it hands out, for as long as their TTL (raised to a floor) says.
//!
//! One resolver per task, listening on the loopback of the task's network namespace, so it
//! knows which task asks by the socket the query arrived on, never by what the task sends.

mod connections;
mod holdings;
mod latency;
mod ledger;
mod limits;
mod listen;
mod serve;

use std::{
    net::{IpAddr, SocketAddr},
    os::fd::BorrowedFd,
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};

use enforcer_common::ResolverAddr;
use tokio::{sync::mpsc, task::JoinHandle};

pub use self::holdings::{HeldAddress, HoldLimits};
use self::{
    connections::TcpTables,
    ledger::{Ledger, StaticNets},
    limits::TokenBucket,
    serve::Shared,
};
use crate::{
    allowlist::AllowlistMaps,
    dns::{NameMatcher, Rebinding, Upstream},
    enforcement::AllowedNet,
    error::{Error, Result},
    events::{Denial, DenialLog},
    node,
    spec::DomainSet,
};

/// Default floor of how long a handed-out address stays allowed (`--dns-min-ttl`).
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(60);
/// Addresses one name may hold open at once (a CDN rotating through more keeps the newest).
pub const MAX_ADDRESSES_PER_NAME: usize = 64;
/// Name-address holds of one task at once.
pub const MAX_HOLDS_PER_TASK: usize = 16_384;
/// How long the resolver waits for the upstream resolvers, all tries included.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
/// How often holds are checked for their end.
const EXPIRY_TICK: Duration = Duration::from_secs(1);
/// How long a stopping resolver waits for its log to drain.
const EVENT_LOG_DRAIN: Duration = Duration::from_secs(1);
/// Denial events waiting for the log; more are counted as lost.
const EVENT_BACKLOG: usize = 1024;

/// How the node runs task resolvers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverSettings {
    /// Where allowed names are looked up.
    pub upstream: Vec<SocketAddr>,
    /// The floor of an address's hold.
    pub min_ttl: Duration,
    /// Internal addresses a name may still open (`--allow-internal`); the spec's own IP
    /// literals and CIDRs are added per task.
    pub allow_internal: Vec<AllowedNet>,
    /// Who else hears of what the resolver does (the agent's event stream and metrics).
    pub hooks: ResolverHooks,
}

/// Observers of a resolver besides its log, called on the runtime (they must not block).
#[derive(Clone, Default)]
pub struct ResolverHooks {
    /// Each refusal, with the task's id.
    pub denials: Option<Arc<DenialFn>>,
    /// How long each forwarded query took, from arrival to answer.
    pub answer_latency: Option<Arc<LatencyFn>>,
}

/// What [`ResolverHooks::denials`] calls.
pub type DenialFn = dyn Fn(&str, &Denial) + Send + Sync;
/// What [`ResolverHooks::answer_latency`] calls.
pub type LatencyFn = dyn Fn(Duration) + Send + Sync;

impl std::fmt::Debug for ResolverHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverHooks")
            .field("denials", &self.denials.is_some())
            .field("answer_latency", &self.answer_latency.is_some())
            .finish()
    }
}

impl PartialEq for ResolverHooks {
    fn eq(&self, other: &ResolverHooks) -> bool {
        fn same<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        same(&self.denials, &other.denials) && same(&self.answer_latency, &other.answer_latency)
    }
}

impl Eq for ResolverHooks {}

/// What a task's resolver has done, for the run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResolverReport {
    pub answered: u64,
    pub refused: u64,
    pub rate_limited: u64,
    pub upstream_failures: u64,
    pub events_lost: u64,
    pub held_addresses: usize,
    pub evicted_holds: u64,
    /// Median and 99th percentile time from the upstream's answer to its addresses being
    /// enforced (bucket upper bounds); `None` before the first answer.
    pub enforce_p50: Option<Duration>,
    pub enforce_p99: Option<Duration>,
}

/// What a resolver hands its successor: the addresses it holds open, with the time each has
/// left, and those it retired (open connections only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handover {
    pub held: Vec<HeldAddress>,
    pub retired: Vec<IpAddr>,
}

/// One task's running resolver.
pub struct TaskResolver {
    shared: Arc<Shared>,
    servers: Servers,
    event_log: JoinHandle<()>,
    maps: AllowlistMaps,
    netns_cookie: u64,
    kernel_addr: ResolverAddr,
}

impl TaskResolver {
    /// Starts the resolver of the task whose allowlist `maps` is, listening in `netns` (the
    /// enforcer's own namespace when `None`), and steers the task's DNS to it.
    pub fn start(
        task: &str,
        domains: &DomainSet,
        static_allowed: &[AllowedNet],
        settings: &ResolverSettings,
        maps: AllowlistMaps,
        netns: Option<BorrowedFd<'_>>,
    ) -> Result<TaskResolver> {
        let bound =
            listen::bind_in(netns).map_err(Error::io("binding the task's resolver", "/"))?;
        let kernel_addr = bound.resolver_addr();
        let mut allow_internal = settings.allow_internal.clone();
        allow_internal.extend_from_slice(static_allowed);
        let node_addresses = node::addresses().map_err(Error::io("listing addresses", "/"))?;
        let limits = HoldLimits {
            min_ttl: settings.min_ttl,
            max_ttl: Duration::from_secs(serve::MAX_TTL_SECS.into()),
            per_name: MAX_ADDRESSES_PER_NAME,
            per_task: MAX_HOLDS_PER_TASK,
        };
        let (events, event_queue) = mpsc::channel(EVENT_BACKLOG);
        let shared = Arc::new(Shared {
            names: NameMatcher::new(domains),
            rebinding: Rebinding::new(allow_internal, node_addresses),
            upstream: Upstream::new(settings.upstream.clone(), UPSTREAM_TIMEOUT),
            ledger: Mutex::new(Ledger::new(
                limits,
                maps.clone(),
                StaticNets::new(static_allowed),
            )),
            limiter: Mutex::new(TokenBucket::new(
                limits::QUERIES_PER_SECOND,
                limits::QUERY_BURST,
                Instant::now(),
            )),
            in_flight: Arc::new(tokio::sync::Semaphore::new(limits::MAX_IN_FLIGHT)),
            events,
            stats: serve::Stats::default(),
            answer_latency: settings.hooks.answer_latency.clone(),
        });
        let mut servers = Servers(Vec::new());
        for listener in std::iter::once(bound.v4).chain(bound.v6) {
            servers.0.extend(spawn_servers(&shared, listener)?);
        }
        let tables = TcpTables(bound.tcp_tables);
        servers
            .0
            .push(tokio::spawn(expire_holds(shared.clone(), tables)));
        let event_log = tokio::spawn(log_events(
            task.to_string(),
            event_queue,
            settings.hooks.denials.clone(),
        ));
        let mut resolver = TaskResolver {
            shared,
            servers,
            event_log,
            maps,
            netns_cookie: bound.netns_cookie,
            kernel_addr,
        };
        // Last: only a listening resolver is steered to.
        resolver.steer()?;
        Ok(resolver)
    }

    /// Steers the task's DNS in the resolver's namespace to this resolver (again, after
    /// another took over the steering and had to give it back).
    pub fn steer(&mut self) -> Result<()> {
        self.maps.set_resolver(self.netns_cookie, self.kernel_addr)
    }

    /// What the resolver has done so far.
    pub fn report(&self) -> ResolverReport {
        let stats = &self.shared.stats;
        let (held_addresses, evicted_holds) = {
            let ledger = self.shared.ledger();
            (ledger.held_addresses(), ledger.evicted())
        };
        ResolverReport {
            answered: stats.answered.load(Ordering::Relaxed),
            refused: stats.refused.load(Ordering::Relaxed),
            rate_limited: stats.rate_limited.load(Ordering::Relaxed),
            upstream_failures: stats.upstream_failures.load(Ordering::Relaxed),
            events_lost: stats.events_lost.load(Ordering::Relaxed),
            held_addresses,
            evicted_holds,
            enforce_p50: stats.enforce_latency.quantile(0.5),
            enforce_p99: stats.enforce_latency.quantile(0.99),
        }
    }

    /// Takes over what another resolver of the same task held and retired (see
    /// [`TaskResolver::handover`]): those addresses stay as they are and end on this
    /// resolver's schedule. `keep` says which names' holds to take; the others' addresses
    /// are retired (no new connection; open ones go on).
    pub fn take_over(&self, handover: &Handover, keep: impl Fn(&str) -> bool) -> Result<()> {
        // What an answer could not open now (an address that became the node's) is not
        // taken over either.
        let openable = |held: &HeldAddress| self.shared.rebinding.verdict(held.addr).is_none();
        let (kept, dropped): (Vec<HeldAddress>, Vec<HeldAddress>) = handover
            .held
            .iter()
            .cloned()
            .partition(|held| keep(&held.name) && openable(held));
        let mut retired = handover.retired.clone();
        retired.extend(dropped.iter().map(|held| held.addr));
        self.shared
            .ledger()
            .take_over(&kept, &retired, Instant::now())
    }

    /// What this resolver holds (with the time left) and has retired, for the resolver that
    /// replaces it.
    pub fn handover(&self) -> Handover {
        let ledger = self.shared.ledger();
        Handover {
            held: ledger.holds(Instant::now()),
            retired: ledger.retired().into_iter().map(|(addr, _)| addr).collect(),
        }
    }

    /// Stops answering. From here on the task's DNS is refused in the kernel.
    pub async fn stop(mut self) -> Result<ResolverReport> {
        let unsteered = self.maps.remove_resolver(self.netns_cookie);
        let (report, _) = self.shut_down().await;
        unsteered.map(|()| report)
    }

    /// Stops answering once the task's DNS is steered elsewhere (its steering entry is left
    /// to whoever clears the task's entries); returns what it held and retired up to its last
    /// answer, for its successor.
    pub async fn stop_replaced(self) -> Handover {
        self.shut_down().await.1
    }

    /// Ends every task of the resolver (servers, queries, connections, expiry), so nothing
    /// more is answered or opened; returns its report and what it held and retired.
    async fn shut_down(mut self) -> (ResolverReport, Handover) {
        // First, so an answer still being worked on when its task is aborted opens nothing.
        self.shared.ledger().close();
        for server in &self.servers.0 {
            server.abort();
        }
        for server in std::mem::take(&mut self.servers.0) {
            let _ = server.await;
        }
        let report = self.report();
        let handover = self.handover();
        // The serving tasks held the last senders: the log drains and ends. Bounded, as the
        // agent waits for it with its task table locked.
        drop(self.shared);
        if tokio::time::timeout(EVENT_LOG_DRAIN, &mut self.event_log)
            .await
            .is_err()
        {
            self.event_log.abort();
        }
        (report, handover)
    }
}

/// The resolver's tasks on the runtime; a resolver dropped without `stop` (a failed start)
/// stops serving all the same.
struct Servers(Vec<JoinHandle<()>>);

impl Drop for Servers {
    fn drop(&mut self) {
        for server in &self.0 {
            server.abort();
        }
    }
}

/// The UDP and TCP servers of one listener, on the runtime of the caller.
fn spawn_servers(shared: &Arc<Shared>, listener: listen::Listener) -> Result<Vec<JoinHandle<()>>> {
    let io = Error::io("serving the task's resolver", "/");
    let udp = tokio::net::UdpSocket::from_std(listener.udp);
    let tcp = tokio::net::TcpListener::from_std(listener.tcp);
    let (udp, tcp) = match (udp, tcp) {
        (Ok(udp), Ok(tcp)) => (udp, tcp),
        (Err(e), _) | (_, Err(e)) => return Err(io(e)),
    };
    Ok(vec![
        tokio::spawn(serve::serve_udp(shared.clone(), udp)),
        tokio::spawn(serve::serve_tcp(shared.clone(), tcp)),
    ])
}

/// Ends holds as they come due, and removes retired addresses once no connection of the
/// task's namespace uses them, for as long as the resolver runs.
async fn expire_holds(shared: Arc<Shared>, mut tables: TcpTables) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    loop {
        tick.tick().await;
        let retired = {
            let mut ledger = shared.ledger();
            ledger.expire(Instant::now());
            ledger.retired()
        };
        if retired.is_empty() {
            continue;
        }
        // Read off the runtime's thread and outside the lock: on a busy node the table is long.
        let read = tokio::task::spawn_blocking(move || {
            let peers = tables.connected_peers();
            (tables, peers)
        })
        .await;
        let Ok((returned, peers)) = read else {
            return;
        };
        tables = returned;
        match peers {
            Ok(in_use) => shared.ledger().remove_unused(&retired, &in_use),
            Err(e) => tracing::warn!(error = %e, "reading the task's TCP connections"),
        }
    }
}

/// Logs the resolver's refusals at the task's bounded rate until the resolver stops.
async fn log_events(task: String, mut queue: mpsc::Receiver<Denial>, sink: Option<Arc<DenialFn>>) {
    let mut log = DenialLog::new(&task, None);
    while let Some(denial) = queue.recv().await {
        log.record(&denial);
        if let Some(sink) = &sink {
            sink(&task, &denial);
        }
    }
    log.finish();
}
