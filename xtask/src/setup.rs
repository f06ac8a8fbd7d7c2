//! Installs what building and testing need, once: Debian's compiler + library sources
//! for the BPF target, LLVM 22 for bpf-linker, bpf-linker itself, and libseccomp.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Debian packages the build and the lab need.
const PACKAGES: [&str; 11] = [
    "rustc-web",    // /usr/bin/rustc 1.96, builds core for bpfel-unknown-none
    "rust-web-src", // its library sources, for -Z build-std=core
    "llvm-22-dev",  // bpf-linker links against LLVM 22
    "zlib1g-dev",   // LLVM's link dependencies
    "libzstd-dev",
    "libseccomp-dev", // the task sandbox's seccomp filter (libseccomp crate)
    "pkg-config",     // finds libseccomp for the build
    "iproute2",       // ip netns / veth for the test lab
    "curl",           // the demo's HTTP client
    "runc",           // the container tests' OCI runtime (crun refuses hybrid cgroups)
    "busybox-static", // the container tests' root filesystem, with no image pulls
];

const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn install_missing() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .into_iter()
        .filter(|p| !package_installed(p))
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask setup: installing {}", missing.join(" "));
        run(Command::new("apt-get").arg("update").arg("-q"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if !bpf_linker_installed() {
        eprintln!("xtask setup: installing bpf-linker {BPF_LINKER_VERSION} (about 2 minutes)");
        run(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "install",
                    &format!("bpf-linker@{BPF_LINKER_VERSION}"),
                    "--locked",
                ])
                .args(["--no-default-features", "--features", "llvm-22"])
                .env("LLVM_PREFIX", "/usr/lib/llvm-22"),
        )?;
    }
    Ok(())
}

fn package_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn bpf_linker_installed() -> bool {
    Command::new("bpf-linker")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains(BPF_LINKER_VERSION))
        .unwrap_or(false)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", command.get_program());
    }
    Ok(())
}
