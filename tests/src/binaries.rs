//! Where the workspace's binaries are, seen from a running test executable.

use std::path::PathBuf;

/// The `enforcer-probe` binary of the current target profile.
///
/// # Panics
/// When it has not been built.
pub fn probe_bin() -> PathBuf {
    sibling_bin("enforcer-probe")
}

/// The `enforcer` binary of the current target profile.
///
/// # Panics
/// When it has not been built.
pub fn enforcer_bin() -> PathBuf {
    sibling_bin("enforcer")
}

/// `target/<profile>/<name>`: tests run from `target/<profile>/deps/`, and cargo
/// puts the workspace's binaries one level up.
fn sibling_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (or `cargo xtask test`) first",
        bin.display()
    );
    bin
}
