//! Builds the kernel programs (`enforcer-ebpf`) for the BPF target so the binary can
//! embed them. Needs Debian's rustc + library sources and bpf-linker: `cargo xtask setup`.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// Debian's compiler, which ships the library sources `-Z build-std=core` needs.
const BPF_RUSTC: &str = "/usr/bin/rustc";
const BPF_RUST_SRC: &str = "/usr/lib/rustlib/src/rust/library/core";
const SETUP_HINT: &str = "run `cargo xtask setup` (installs rustc-web, rust-web-src, bpf-linker)";

fn main() {
    let workspace = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    for dir in ["enforcer-ebpf/src", "enforcer-common/src"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("enforcer-ebpf/Cargo.toml").display()
    );

    check_toolchain();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = out_dir.join("ebpf-target");
    let flags = ["-Cdebuginfo=2", "-Clink-arg=--btf"].join("\x1f");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--release", "--package", "enforcer-ebpf"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's wrappers (clippy, sccache) and flags are for the host compiler.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env("RUSTC", BPF_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
        .status()
        .expect("failed to run cargo for enforcer-ebpf");
    assert!(
        status.success(),
        "building enforcer-ebpf failed; {SETUP_HINT}"
    );
    let object = target_dir.join("bpfel-unknown-none/release/enforcer-ebpf");
    std::fs::copy(&object, out_dir.join("enforcer-ebpf.o")).expect("copy eBPF object");
}

fn check_toolchain() {
    let missing: Vec<&str> = [
        (!Path::new(BPF_RUSTC).exists()).then_some(BPF_RUSTC),
        (!Path::new(BPF_RUST_SRC).exists()).then_some(BPF_RUST_SRC),
        (!on_path("bpf-linker")).then_some("bpf-linker"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        panic!(
            "eBPF toolchain missing ({}): {SETUP_HINT}",
            missing.join(", ")
        );
    }
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .map(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}
