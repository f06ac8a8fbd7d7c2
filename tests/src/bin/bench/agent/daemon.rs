//! The benchmark's own `enforcer daemon`, as `enforcer_tests::agent::TestAgent` runs one:
//! its socket, config, records and log in `<temp>/enforcer-bench-agent-<pid>`, its pins in
//! `/sys/fs/bpf/enforcer-bench-agent-<pid>`. Dropping it (or [`BenchAgent::close`]) kills
//! it and removes both: unpinning detaches every task's programs, which no process holds
//! any more.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::Context;
use enforcer::agent::client::AgentClient;

use crate::bench::lab::{DNS_SERVER, LAB_NET};

pub struct BenchAgent {
    child: Option<Child>,
    dir: PathBuf,
    pin_dir: PathBuf,
    closed: bool,
}

impl BenchAgent {
    /// Starts an agent that resolves through the lab's DNS server and allows HTTP port 80.
    pub fn start() -> anyhow::Result<BenchAgent> {
        let name = format!("enforcer-bench-agent-{}", std::process::id());
        let mut agent = BenchAgent {
            child: None,
            dir: std::env::temp_dir().join(&name),
            pin_dir: Path::new(enforcer::paths::BPFFS).join(&name),
            closed: false,
        };
        fs::create_dir_all(&agent.dir)
            .with_context(|| format!("creating {}", agent.dir.display()))?;
        let config = agent.dir.join("agent.yaml");
        let text = format!(
            "upstream: [\"{DNS_SERVER}\"]\nallow_internal: [\"{}/{}\"]\nhttp_ports: [80]\n",
            LAB_NET.0, LAB_NET.1
        );
        fs::write(&config, text).context("writing the agent's config")?;
        let log = fs::File::create(agent.log_path()).context("creating the agent's log")?;
        let child = Command::new(enforcer_tests::enforcer_bin())
            .arg("daemon")
            .arg("--config")
            .arg(&config)
            .arg("--socket")
            .arg(agent.socket())
            .arg("--pin-dir")
            .arg(&agent.pin_dir)
            .arg("--state-dir")
            .arg(agent.dir.join("state"))
            // The shipped level: debug would also compile the kernel programs' own logging in.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting enforcer daemon")?;
        agent.child = Some(child);
        agent.wait_ready()?;
        Ok(agent)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    /// A client of the agent's API.
    pub fn client(&self) -> AgentClient {
        AgentClient::new(self.socket())
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = self.client();
        let log = self.log_path();
        let child = self.child.as_mut().context("the agent is not running")?;
        enforcer_tests::agent::wait_until_answering(child, &client, &log)
    }

    /// Kills the agent and removes its pins and files, reporting what could not be removed.
    pub fn close(mut self) -> anyhow::Result<()> {
        self.remove()
    }

    fn remove(&mut self) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        if let Some(mut child) = self.child.take() {
            // Killed, not asked to stop: its tasks go with the pins below either way.
            let _ = child.kill();
            let _ = child.wait();
        }
        let unpinned = enforcer::bpffs::remove_pins(&self.pin_dir)
            .with_context(|| format!("removing the agent's pins {}", self.pin_dir.display()));
        let removed = match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.dir.display()))
            }
            _ => Ok(()),
        };
        unpinned.and(removed)
    }
}

impl Drop for BenchAgent {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("enforcer-bench: removing the agent: {e:#}");
        }
    }
}
