//! The DNS measurements of each repetition: the latency of sequential queries straight to
//! the lab's server and through a task resolver, for one name and for new names, then
//! lookups each followed at once by a connect to the answer.

use std::{
    collections::HashMap,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::bail;

use super::{
    client::{DnsSample, Names},
    first_connect::FirstConnects,
    zone,
};
use crate::bench::{
    child,
    conditions::{Condition, Tasks},
    interrupt,
    lab::{DNS_SERVER, SERVER},
};

/// A task resolver's rate limit (`enforcer::resolver`'s, not public): queries a second,
/// and at most at once. A query over it is dropped, so the measurements stay within it.
const RESOLVER_RATE: f64 = 200.0;
const RESOLVER_BURST: u32 = 400;

/// What each repetition asks.
pub struct DnsSettings {
    /// Queries per latency measurement.
    pub queries: u32,
    /// Lookups, each followed by a connect.
    pub first_connects: u32,
}

/// Every repetition's results, in repetition order.
#[derive(Default)]
pub struct DnsResults {
    samples: HashMap<(Names, Condition), Vec<DnsSample>>,
    pub first_connects: Vec<FirstConnects>,
}

impl DnsResults {
    pub fn samples(&self, names: Names, condition: Condition) -> &[DnsSample] {
        self.samples
            .get(&(names, condition))
            .map_or(&[], Vec::as_slice)
    }
}

/// The condition whose resolver answers the queries for `names`: each has its own, so
/// the enforce latency of held addresses and of new ones can be told apart.
pub fn enforced(names: Names) -> Condition {
    match names {
        Names::One => Condition::DnsEnforced,
        Names::New => Condition::DnsEnforcedNew,
    }
}

pub struct DnsBench<'a> {
    exe: &'a Path,
    cpu: usize,
    settings: DnsSettings,
    /// The first numbered name not asked for yet.
    next_name: u32,
    /// When the resolvers' rate limits have refilled after the last repetition.
    ready_at: Instant,
    results: DnsResults,
}

impl<'a> DnsBench<'a> {
    /// For `reps` repetitions of `settings`, running clients of `exe` on `cpu`.
    pub fn new(
        exe: &'a Path,
        cpu: usize,
        settings: DnsSettings,
        reps: u32,
    ) -> anyhow::Result<DnsBench<'a>> {
        let per_rep = settings.queries + settings.first_connects;
        if per_rep > RESOLVER_BURST {
            bail!(
                "--dns-queries plus --first-connects is at most {RESOLVER_BURST}, a task \
                 resolver's burst: more would be dropped"
            );
        }
        if u64::from(per_rep) * u64::from(reps) > u64::from(zone::NAME_SLOTS) {
            bail!("the lab has only {} new names", zone::NAME_SLOTS);
        }
        Ok(DnsBench {
            exe,
            cpu,
            settings,
            next_name: 1,
            ready_at: Instant::now(),
            results: DnsResults::default(),
        })
    }

    /// Repetition `rep`'s measurements, once the resolvers' rate limits have refilled.
    pub fn rep(&mut self, tasks: &Tasks, rep: u32) -> anyhow::Result<()> {
        thread::sleep(self.ready_at.saturating_duration_since(Instant::now()));
        // Both conditions ask the same numbered names: only the resolver remembers them.
        let first = self.next_name;
        for names in Names::ALL {
            // Rotated per repetition, as the rates are.
            let mut order = [Condition::DnsDirect, enforced(names)];
            order.rotate_left(rep as usize % 2);
            for condition in order {
                let sample = self.latency(names, tasks.cgroup(condition), first);
                interrupt::check()?;
                let entry = self.results.samples.entry((names, condition));
                entry.or_default().push(sample?);
            }
        }
        let first = first + self.settings.queries;
        let connects = self.first_connects(tasks.cgroup(Condition::DnsEnforcedNew), first);
        interrupt::check()?;
        self.results.first_connects.push(connects?);
        self.next_name = first + self.settings.first_connects;
        let used = self.settings.queries + self.settings.first_connects;
        self.ready_at = Instant::now() + Duration::from_secs_f64(f64::from(used) / RESOLVER_RATE);
        Ok(())
    }

    pub fn settings(&self) -> &DnsSettings {
        &self.settings
    }

    pub fn results(&self) -> &DnsResults {
        &self.results
    }

    fn latency(&self, names: Names, cgroup: &Path, first: u32) -> anyhow::Result<DnsSample> {
        let args = [
            "dns-client".to_string(),
            format!("--names={}", names.arg()),
            format!("--server={DNS_SERVER}"),
            format!("--queries={}", self.settings.queries),
            format!("--first={first}"),
            format!("--cpu={}", self.cpu),
        ];
        child::run(self.exe, &args, cgroup)
    }

    fn first_connects(&self, cgroup: &Path, first: u32) -> anyhow::Result<FirstConnects> {
        let args = [
            "dns-connect".to_string(),
            format!("--server={DNS_SERVER}"),
            format!("--port={}", SERVER.port()),
            format!("--count={}", self.settings.first_connects),
            format!("--first={first}"),
            format!("--cpu={}", self.cpu),
        ];
        child::run(self.exe, &args, cgroup)
    }
}
