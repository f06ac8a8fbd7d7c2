//! `cargo xtask setup|build|test|bench|demo`: the project's own commands.

mod setup;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what is missing: Debian packages and bpf-linker (idempotent; needs root).
    Setup,
    /// Build the eBPF object and every binary of the workspace.
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Setup, formatting and lint checks, build, then every test (kernel tests as root).
    Test,
    /// Setup, build (release), then measure throughput and connect cost under each mode.
    Bench {
        /// Extra arguments for the benchmark (see `enforcer-bench --help`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Setup, build, then run real tasks under None, Full and HTTP in a lab of network
    /// namespaces, printing what was allowed and refused.
    Demo,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Task::Setup => setup::install_missing(),
        Task::Build { release } => {
            setup::install_missing()?;
            build(release)
        }
        Task::Test => {
            setup::install_missing()?;
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])?;
            build(false)?;
            test_workspace()
        }
        Task::Bench { args } => {
            setup::install_missing()?;
            build(true)?;
            run_binary("target/release/enforcer-bench", &args)
        }
        Task::Demo => {
            setup::install_missing()?;
            build(false)?;
            run_binary("target/debug/enforcer-demo", &[])
        }
    }
}

/// The integration tests run the real binaries, so build them all first.
fn build(release: bool) -> Result<()> {
    let mut args = vec!["build", "--workspace", "--bins"];
    if release {
        args.push("--release");
    }
    cargo(&args)
}

/// `cargo test --workspace`, ending with one summary line over every test binary
/// (cargo's own last line is about the last binary only, often doc tests with none).
fn test_workspace() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo test --workspace");
    let mut child = Command::new(&cargo)
        .args(["test", "--workspace"])
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cargo}"))?;
    let mut totals = TestTotals::default();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        println!("{line}");
        totals.add(&line);
    }
    let status = child.wait()?;
    println!("tests: {} passed, {} failed", totals.passed, totals.failed);
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

/// Sums cargo's `test result: ok. N passed; M failed; ...` lines.
#[derive(Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
}

impl TestTotals {
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(kind), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match kind {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                _ => {}
            }
        }
    }
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn run_binary(relative: &str, args: &[String]) -> Result<()> {
    let path = workspace_root().join(relative);
    let status = Command::new(&path)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("running {}", path.display()))?;
    if !status.success() {
        bail!("{relative} failed ({status})");
    }
    Ok(())
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::TestTotals;

    #[test]
    fn sums_cargo_test_result_lines() {
        let mut totals = TestTotals::default();
        totals.add("test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        totals
            .add("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out");
        totals.add("test foo ... ok");
        assert_eq!((totals.passed, totals.failed), (15, 2));
    }
}
