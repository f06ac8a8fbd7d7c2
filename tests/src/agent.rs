//! A node agent (`enforcer daemon`) of a test's own: its socket, pins and records in
//! directories of the test, so tests run side by side and leave nothing behind. The agent
//! can be killed (`kill -9`) and started again over the same directories.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use enforcer::{agent::client::AgentClient, cgroup::cgroup2_mount};

use crate::{enforcer_bin, probe_bin, run::output_within, scratch::ScratchDir, Lab, ProbeResult};

/// Where test agents pin (removed with each agent).
const PIN_PARENT: &str = "/sys/fs/bpf/enforcer-agent-tests";
/// How long an agent may take to answer after it starts.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A running `enforcer daemon`, stopped and cleaned up on drop.
pub struct TestAgent {
    child: Option<Child>,
    scratch: ScratchDir,
    pin_dir: PathBuf,
    config: PathBuf,
}

impl TestAgent {
    /// Starts an agent named after `name` and this process, resolving through `lab`'s DNS
    /// server and treating the lab's addresses as allowed internal ones.
    pub fn start(name: &str, lab: &Lab) -> Result<TestAgent> {
        TestAgent::start_with(name, lab, "")
    }

    /// [`TestAgent::start`] with `more_config` (YAML lines) added to its config file.
    pub fn start_with(name: &str, lab: &Lab, more_config: &str) -> Result<TestAgent> {
        let id = format!("{name}-{}", std::process::id());
        let scratch = ScratchDir::create(&format!("enforcer-agent-{id}"))?;
        let config = scratch.path().join("agent.yaml");
        let allow = lab.internal_allowance();
        let text = format!(
            "upstream: [\"{}\"]\nallow_internal: {:?}\nhttp_ports: [80, 443]\n{more_config}",
            lab.dns(),
            allow
        );
        std::fs::write(&config, text).context("writing the agent config")?;
        let mut agent = TestAgent {
            child: None,
            scratch,
            pin_dir: Path::new(PIN_PARENT).join(&id),
            config,
        };
        agent.launch()?;
        Ok(agent)
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.scratch.path().join("agent.sock")
    }

    fn state_dir(&self) -> PathBuf {
        self.scratch.path().join("state")
    }

    /// The agent's pin directory (format directories below it).
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// `enforcer daemon` over this agent's config, socket, pins and records.
    fn daemon_command(&self) -> Command {
        let mut command = Command::new(enforcer_bin());
        command
            .arg("daemon")
            .arg("--config")
            .arg(&self.config)
            .arg("--socket")
            .arg(self.socket())
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .arg("--state-dir")
            .arg(self.state_dir());
        command
    }

    fn launch(&mut self) -> Result<()> {
        let _ = std::fs::remove_file(self.socket());
        let child = self
            .daemon_command()
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(
                self.scratch.path().join("agent.log"),
            )?)
            .spawn()
            .context("starting enforcer daemon")?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let client = self.client();
        let log = self.scratch.path().join("agent.log");
        let child = self.child.as_mut().context("the agent is not running")?;
        wait_until_answering(child, &client, &log)
    }

    /// What the agent logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("agent.log")).unwrap_or_default()
    }

    /// A client of the agent's API.
    pub fn client(&self) -> AgentClient {
        AgentClient::new(self.socket())
    }

    /// Runs `enforcer ARGS... --socket <this agent's>` and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut command = Command::new(enforcer_bin());
        command.args(args).arg("--socket").arg(self.socket());
        output_within(&mut command, Duration::from_secs(30))
    }

    /// `kill -9` of the agent: its tasks stay as pinned.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs a second agent over this one's socket, pins and records, and returns how it
    /// ended (it must not start).
    pub fn second(&self) -> Output {
        output_within(&mut self.daemon_command(), Duration::from_secs(30))
    }

    /// Starts the agent again over the same socket, pins and records.
    pub fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.launch()
    }

    /// Whether the agent process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().is_ok_and(|s| s.is_none()))
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Ok(tasks) = self.client().list() {
                for task in tasks {
                    let _ = self.client().release(&task.id);
                }
            }
        }
        self.kill9();
        // Unpinning what is left detaches it.
        let _ = std::fs::remove_dir_all(&self.pin_dir);
        let _ = std::fs::remove_dir(PIN_PARENT);
    }
}

/// Waits until the agent `child` answers `client`; fails with the end of its `log` if it
/// exits first or stays silent for [`START_LIMIT`].
pub fn wait_until_answering(child: &mut Child, client: &AgentClient, log: &Path) -> Result<()> {
    let tail = || {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    let deadline = Instant::now() + START_LIMIT;
    while Instant::now() < deadline {
        if client.status().is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the agent exited ({status}): {}", tail());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "the agent did not answer within {START_LIMIT:?}: {}",
        tail()
    )
}

/// A cgroup of a test's own, as a container runtime would make one; its processes are
/// killed and it is removed on drop.
pub struct TestCgroup {
    path: PathBuf,
    /// Whether the shared parent goes with this cgroup (not for a child of another).
    shared_parent: bool,
}

impl TestCgroup {
    /// `<cgroup2>/enforcer-agent-tests/<name>-<pid>`.
    pub fn create(name: &str) -> Result<TestCgroup> {
        let parent = cgroup2_mount()?.join("enforcer-agent-tests");
        let path = parent.join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TestCgroup {
            path,
            shared_parent: true,
        })
    }

    /// A cgroup inside this one (drop it first).
    pub fn child(&self, name: &str) -> Result<TestCgroup> {
        let path = self.path.join(name);
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TestCgroup {
            path,
            shared_parent: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command that starts inside the cgroup, with every capability: only the kernel
    /// programs stand in its way.
    pub fn command(&self, program: &Path) -> Command {
        let procs = self.path.join("cgroup.procs");
        let mut command = Command::new(program);
        // SAFETY: the closure only writes to a file; std::fs allocates, which is fine in a
        // test binary whose other threads do not hold the allocator lock across fork.
        unsafe {
            command.pre_exec(move || std::fs::write(&procs, "0"));
        }
        command
    }
}

impl TestCgroup {
    /// A process that stays in the cgroup, idle, until it is killed (with the cgroup at the
    /// latest): a task's running process, as a container has.
    pub fn spawn_idle(&self) -> Child {
        self.command(Path::new("/bin/sleep"))
            .arg("infinity")
            .stdout(Stdio::null())
            .spawn()
            .expect("starting a process in the cgroup")
    }

    /// Runs `enforcer-probe ARGS...` inside the cgroup (with every capability) and returns
    /// its result.
    pub fn probe(&self, args: &[&str]) -> ProbeResult {
        let mut command = self.command(&probe_bin());
        command.args(args);
        let output = output_within(&mut command, Duration::from_secs(30));
        ProbeResult::from_stdout(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "probe {args:?} in {}: {e:#}; stderr: {}",
                self.path.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.path.join("cgroup.kill"), "1");
        for _ in 0..100 {
            if std::fs::remove_dir(&self.path).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(parent) = self.path.parent().filter(|_| self.shared_parent) {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
