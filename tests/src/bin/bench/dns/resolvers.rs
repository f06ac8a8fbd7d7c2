//! The task resolvers of the enforced DNS conditions, started as `enforcer run` starts
//! one, on a tokio runtime of their own whose one worker shares the client's CPU (like
//! the lab's server: see [`crate::bench::cpu`]).

use anyhow::Context;
use enforcer::{
    allowlist::AllowlistMaps,
    enforcement::{self, AllowedNet},
    resolver::{ResolverReport, ResolverSettings, TaskResolver, DEFAULT_MIN_TTL},
    spec::DomainSet,
};
use tokio::runtime::Runtime;

use super::zone;
use crate::bench::{
    conditions::{Condition, Tasks},
    cpu,
    lab::{DNS_SERVER, LAB_NET},
};

/// The conditions with a resolver.
const ENFORCED: [Condition; 2] = [Condition::DnsEnforced, Condition::DnsEnforcedNew];

pub struct Resolvers {
    running: Vec<(Condition, TaskResolver)>,
    runtime: Runtime,
}

impl Resolvers {
    /// A resolver for each of [`ENFORCED`]: the lab's server upstream, every name under
    /// [`zone::NAME`] allowed, the lab's private addresses allowed as answers.
    pub fn start(tasks: &Tasks, cpu: usize) -> anyhow::Result<Resolvers> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(move || {
                if let Err(e) = cpu::pin(cpu) {
                    eprintln!("enforcer-bench: pinning a resolver thread to CPU {cpu}: {e}");
                }
            })
            .build()
            .context("starting the resolvers' runtime")?;
        let domains = DomainSet::parse(&[format!(".{}", zone::NAME)])?;
        let settings = ResolverSettings {
            upstream: vec![DNS_SERVER],
            min_ttl: DEFAULT_MIN_TTL,
            allow_internal: vec![AllowedNet {
                addr: LAB_NET.0.into(),
                prefix_len: LAB_NET.1,
            }],
            hooks: Default::default(),
        };
        let entered = runtime.enter();
        let mut running = Vec::new();
        for condition in ENFORCED {
            let pin_dir = tasks
                .pin_dir(condition)
                .with_context(|| format!("{} has no enforcement", condition.name()))?;
            // No static addresses: the policy allows none up front.
            let resolver = TaskResolver::start(
                condition.name(),
                &domains,
                &[],
                &settings,
                AllowlistMaps::open(pin_dir, enforcement::ONLY_TASK)?,
                None,
            )
            .with_context(|| format!("starting the {} resolver", condition.name()))?;
            running.push((condition, resolver));
        }
        drop(entered);
        Ok(Resolvers { running, runtime })
    }

    /// Stops them all, returning what each did.
    pub fn stop(self) -> anyhow::Result<Vec<(Condition, ResolverReport)>> {
        self.runtime.block_on(async {
            let mut reports = Vec::new();
            for (condition, resolver) in self.running {
                let report = resolver
                    .stop()
                    .await
                    .with_context(|| format!("stopping the {} resolver", condition.name()))?;
                reports.push((condition, report));
            }
            Ok(reports)
        })
    }
}
