//! A running `enforcer-probe serve`, killed on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::received::parse_log;
use crate::{probe_bin, Ready, Received};

/// How long a server may take to bind its sockets.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A lab server process with its log and ready files in a scratch directory.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    log: PathBuf,
    ready: Ready,
}

impl ServerProcess {
    /// Starts `enforcer-probe serve ARGS...` (inside network namespace `netns`
    /// when given) and waits until it has bound every socket.
    pub(crate) fn start(netns: Option<&str>, dir: &Path, args: &[String]) -> Result<Self> {
        let log = dir.join("received.log");
        let ready_file = dir.join("ready.json");
        let stderr_file = dir.join("serve.stderr");
        let mut command = match netns {
            Some(netns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", netns]).arg(probe_bin());
                c
            }
            None => Command::new(probe_bin()),
        };
        command
            .arg("serve")
            .arg("--log")
            .arg(&log)
            .arg("--ready")
            .arg(&ready_file)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_file).context("create server stderr file")?);
        let child = command
            .spawn()
            .with_context(|| format!("spawn {command:?}"))?;
        // From here on, drop kills the child whatever goes wrong.
        let mut server = ServerProcess {
            child,
            log,
            ready: Ready::default(),
        };
        server.ready = server
            .wait_ready(&ready_file)
            .with_context(|| format!("{command:?} did not get ready"))
            .with_context(|| stderr_of(&stderr_file))?;
        Ok(server)
    }

    /// The sockets the server bound.
    pub(crate) fn ready(&self) -> &Ready {
        &self.ready
    }

    /// Everything the server logged so far.
    ///
    /// # Panics
    /// When the log cannot be read or holds a line the server cannot have
    /// written: a broken lab, not a test outcome.
    pub(crate) fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.log.display()));
        parse_log(&text).unwrap_or_else(|e| panic!("{}: {e:#}", self.log.display()))
    }

    fn wait_ready(&mut self, ready_file: &Path) -> Result<Ready> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // The server renames the file into place, so it is complete once seen.
            if let Ok(text) = std::fs::read_to_string(ready_file) {
                return serde_json::from_str(&text).context("parse ready file");
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("server exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("no ready file after {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    format!("server stderr: {}", text.trim())
}
