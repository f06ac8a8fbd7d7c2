//! `cargo xtask setup|build|test|bench|demo`: the project's own commands.

mod setup;

use std::process::Command;

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
            cargo(&["test", "--workspace"])
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
