//! Runs one of this binary's client roles as a process confined in a condition's cgroup,
//! so that the kernel programs attached there see its sockets, and reads the one JSON line
//! it prints.

use std::{path::Path, process::Command};

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;

/// `exe ARGS` in `cgroup`; `args[0]` is the role.
pub fn run<T: DeserializeOwned>(exe: &Path, args: &[String], cgroup: &Path) -> anyhow::Result<T> {
    let role = args.first().map_or("", String::as_str);
    let mut client = Command::new(exe);
    client.args(args);
    enforcer::sandbox::confine(&mut client, cgroup, None)?;
    let output = client
        .output()
        .with_context(|| format!("starting the {role} client"))?;
    if !output.status.success() {
        bail!(
            "{} in {} failed ({}): {}",
            args.join(" "),
            cgroup.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "reading the {role} client's result {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
