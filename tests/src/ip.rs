//! Running iproute2's `ip`, with its stderr in every error.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// Runs `ip ARGS...` and returns its stdout.
pub(crate) fn ip(args: &[&str]) -> Result<String> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("run ip (is iproute2 installed?)")?;
    checked(&format!("ip {}", args.join(" ")), output)
}

/// Runs several `ip` commands in one process (`ip -batch -`), inside network
/// namespace `netns` when given; stops at the first failing command.
pub(crate) fn ip_batch(netns: Option<&str>, commands: &[String]) -> Result<()> {
    let mut args = Vec::new();
    if let Some(netns) = netns {
        args.extend(["-n", netns]);
    }
    args.extend(["-batch", "-"]);
    let mut child = Command::new("ip")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("run ip (is iproute2 installed?)")?;
    let script = commands.join("\n") + "\n";
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(script.as_bytes())
        .context("write to ip -batch")?;
    let output = child.wait_with_output().context("wait for ip -batch")?;
    checked(&format!("ip {} <<< {script:?}", args.join(" ")), output).map(drop)
}

fn checked(what: &str, output: Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "`{what}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
