//! Enforcing tasks through the agent's API one after another, each call timed as its
//! client sees it: `AgentClient::enforce` from the request's start to the answer, which
//! the agent gives once the task's programs are attached to its cgroup, its allowlist
//! filled and its resolver listening (the client's connection and runtime included).

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use enforcer::agent::{
    api::{CgroupRef, EnforceRequest, NetworkRequest},
    client::AgentClient,
};

use super::cgroups::AgentCgroups;
use crate::bench::{interrupt, lab::SERVER};

/// How many tasks are already enforced when the attach latency is sampled.
pub const POINTS: [usize; 3] = [1, 100, 1000];
/// Attaches sampled at each point: those made with `point` to `point + WINDOW - 1` tasks
/// already enforced.
pub const WINDOW: usize = 50;
/// Tasks enforced at the most: enough for the last point's window.
pub const FLEET_SIZE: usize = POINTS[2] + WINDOW;

/// HTTP mode allowing two addresses (IP literals: nothing to look up): the lab's server,
/// which the connect client reaches, and a documentation address no one does.
pub fn http_request(id: &str, cgroup: &Path) -> EnforceRequest {
    let domains = [SERVER.ip().to_string(), "192.0.2.1".to_string()];
    EnforceRequest {
        id: id.to_string(),
        cgroup: CgroupRef::Path(cgroup.to_path_buf()),
        network: NetworkRequest {
            network: Some(serde_json::json!({ "Type": "HTTP", "Domains": domains })),
            ..NetworkRequest::default()
        },
    }
}

/// Every timed call, by point.
#[derive(Default)]
pub struct AttachLatency {
    /// Per point of [`POINTS`], the attaches of its window, over every growth.
    pub attaches: [Vec<Duration>; POINTS.len()],
    /// Every release of a fleet task (`AgentClient::release`).
    pub releases: Vec<Duration>,
}

impl AttachLatency {
    fn add_attach(&mut self, already: usize, took: Duration) {
        let point = POINTS
            .iter()
            .position(|&p| (p..p + WINDOW).contains(&already));
        if let Some(i) = point {
            self.attaches[i].push(took);
        }
    }
}

/// The tasks enforced besides the one the clients run in, each in an empty cgroup of
/// its own (made once, enforced again after each release).
pub struct Fleet<'a> {
    client: AgentClient,
    cgroups: &'a AgentCgroups,
    /// Tasks the agent enforces besides the fleet.
    others: usize,
    made: Vec<PathBuf>,
    enforced: usize,
}

impl<'a> Fleet<'a> {
    pub fn new(client: AgentClient, cgroups: &'a AgentCgroups, others: usize) -> Fleet<'a> {
        Fleet {
            client,
            cgroups,
            others,
            made: Vec::new(),
            enforced: 0,
        }
    }

    /// Tasks the agent enforces now.
    pub fn tasks(&self) -> usize {
        self.others + self.enforced
    }

    /// Enforces fleet tasks until the agent has [`FLEET_SIZE`], timing each; `reached`
    /// is told each new count.
    pub fn grow(
        &mut self,
        latency: &mut AttachLatency,
        mut reached: impl FnMut(usize) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        while self.tasks() < FLEET_SIZE {
            let i = self.enforced;
            if i == self.made.len() {
                self.made.push(self.cgroups.add(&id(i))?);
            }
            let request = http_request(&id(i), &self.made[i]);
            let already = self.tasks();
            let start = Instant::now();
            self.client
                .enforce(&request)
                .with_context(|| format!("enforcing {} with {already} tasks enforced", id(i)))?;
            latency.add_attach(already, start.elapsed());
            self.enforced += 1;
            reached(self.tasks())?;
            interrupt::check()?;
        }
        Ok(())
    }

    /// Releases every fleet task, newest first, timing each.
    pub fn release_all(&mut self, latency: &mut AttachLatency) -> anyhow::Result<()> {
        while self.enforced > 0 {
            let id = id(self.enforced - 1);
            let start = Instant::now();
            self.client
                .release(&id)
                .with_context(|| format!("releasing {id}"))?;
            latency.releases.push(start.elapsed());
            self.enforced -= 1;
            interrupt::check()?;
        }
        Ok(())
    }
}

fn id(i: usize) -> String {
    format!("fleet-{i}")
}
