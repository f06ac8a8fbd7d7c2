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

/// `target/<profile>/<name>`: tests run from `target/<profile>/deps/`, and cargo puts
/// the workspace's binaries one level up; the demo and bench binaries run from
/// `target/<profile>/` themselves.
fn sibling_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let exe_dir = exe.parent().expect("an executable lives in a directory");
    let profile_dir = if exe_dir.ends_with("deps") {
        exe_dir.parent().expect("deps has a parent")
    } else {
        exe_dir
    };
    let bin = profile_dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (or `cargo xtask test`) first",
        bin.display()
    );
    bin
}
