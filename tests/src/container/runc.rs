//! Running bundles with runc.

use std::{
    fs::File,
    path::PathBuf,
    process::{Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::{cgroups::ParentUse, Bundle};
use crate::run::try_output_within;

const RUNC: &str = "runc";

/// Longer than any test container runs: past it the container is hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// How often to look at a container that is meant to change state.
const POLL: Duration = Duration::from_millis(20);

/// A container of runc's, deleted with `runc delete --force` on drop (which kills what is
/// left of it and removes its cgroups).
#[derive(Debug)]
pub struct Container {
    id: String,
    /// The detached container's stdout and stderr, and runc's.
    log: Option<PathBuf>,
    // Dropped after the container is deleted: its cgroup is gone from the parent by then.
    _parent: ParentUse,
}

/// The parts of `runc state` tests read.
#[derive(Deserialize)]
struct RuncState {
    pid: u32,
    status: String,
}

impl Container {
    /// Runs the bundle's container as `id` to its end (`runc run`), killed after 30 s.
    /// The output is runc's and the container's, which share runc's stdout and stderr.
    pub fn run(bundle: &Bundle, id: &str) -> Result<Output> {
        let _container = Container::named(id, None);
        try_output_within(
            Command::new(RUNC)
                .args(["run", "--bundle"])
                .arg(bundle.dir())
                .arg(id),
            RUN_TIMEOUT,
        )
    }

    /// Starts the bundle's container as `id` and returns once its program runs
    /// (`runc run --detach`); its output goes to `<bundle>/<id>.log`.
    pub fn start_detached(bundle: &Bundle, id: &str) -> Result<Container> {
        let log = bundle.dir().join(format!("{id}.log"));
        let container = Container::named(id, Some(log.clone()));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let mut child = Command::new(RUNC)
            .args(["run", "--detach", "--bundle"])
            .arg(bundle.dir())
            .arg(id)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("spawn runc")?;
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("runc run --detach {id} still running after {RUN_TIMEOUT:?}: killed");
            }
            thread::sleep(POLL);
        };
        if !status.success() {
            bail!("runc run --detach {id}: {status}: {}", container.log());
        }
        Ok(container)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The pid of the container's process, as the host sees it.
    pub fn pid(&self) -> Result<u32> {
        Ok(self.state()?.pid)
    }

    /// `created`, `running`, `paused` or `stopped`.
    pub fn status(&self) -> Result<String> {
        Ok(self.state()?.status)
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the container's process.
    pub fn kill(&self, signal: &str) -> Result<()> {
        let out = Command::new(RUNC)
            .args(["kill", &self.id, signal])
            .output()
            .context("run runc kill")?;
        if !out.status.success() {
            bail!(
                "runc kill {} {signal}: {}",
                self.id,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Returns once the container's process has ended, or fails after `limit`.
    pub fn wait_stopped(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while self.status()? != "stopped" {
            if Instant::now() > deadline {
                bail!("container {} still running after {limit:?}", self.id);
            }
            thread::sleep(POLL);
        }
        Ok(())
    }

    /// Deletes the stopped container (`runc delete`): runc removes its cgroups and runs its
    /// poststop hooks. Returns runc's output, failed or not (a failing poststop hook fails
    /// it).
    pub fn delete(&self) -> Result<Output> {
        try_output_within(Command::new(RUNC).args(["delete", &self.id]), RUN_TIMEOUT)
    }

    /// What the detached container and runc wrote so far (empty for [`Container::run`]).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    fn named(id: &str, log: Option<PathBuf>) -> Container {
        Container {
            id: id.to_owned(),
            log,
            _parent: ParentUse::take(),
        }
    }

    fn state(&self) -> Result<RuncState> {
        let out = Command::new(RUNC)
            .args(["state", &self.id])
            .output()
            .context("run runc state")?;
        if !out.status.success() {
            bail!(
                "runc state {}: {}",
                self.id,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout).context("parse runc state")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        force_delete(&self.id);
    }
}

/// Whether runc can be run.
pub(super) fn installed() -> bool {
    Command::new(RUNC)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The ids of every container runc knows (none when it can't be asked).
pub(super) fn list_ids() -> Vec<String> {
    Command::new(RUNC)
        .args(["list", "--quiet"])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Kills and deletes container `id` if it exists (runc removes its cgroups).
pub(super) fn force_delete(id: &str) {
    let _ = Command::new(RUNC)
        .args(["delete", "--force", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
