//! Real containers for tests: OCI bundles of static busybox run by runc, with hooks and
//! annotations, no image pulls and no outside network.
//!
//! runc (Debian 1.1.5) is the runtime: crun 1.8.1 refuses the hybrid cgroup layout of the
//! test machines. With `linux.cgroupsPath` `/enforcer-test/<id>` (cgroupfs driver, not
//! systemd) runc puts the container in that cgroup in every v1 hierarchy and in the unified
//! (cgroup2) one, so its `0::` line is `0::/enforcer-test/<id>`: a cgroup of its own that
//! the enforcer can attach to.
//!
//! Everything made here (bundle directories, containers, their cgroups and the shared
//! `enforcer-test` parents) is removed on drop, also when a test panics.

mod bundle;
mod cgroups;
mod runc;
mod stale;

pub use bundle::{Bundle, ContainerConfig, Hook, HookRecording, NetworkNamespace};
pub use cgroups::{cgroup2_line, cgroup2_of, CGROUP_PARENT};
pub use runc::Container;

use std::path::Path;

use crate::kernel_lab_available;

/// Where busybox-static installs the binary every bundle's root filesystem is built from.
pub const BUSYBOX: &str = "/bin/busybox";

/// True when container tests can run here: as root, with runc and a static busybox.
///
/// Without them the test should return early: this prints why it is skipped.
///
/// # Panics
/// When something is missing and `CI=true`: in CI a container test must fail, never skip.
pub fn runtime_available() -> bool {
    if !kernel_lab_available() {
        return false;
    }
    let missing: Vec<&str> = [
        ("runc", runc::installed()),
        ("busybox-static", Path::new(BUSYBOX).is_file()),
    ]
    .into_iter()
    .filter_map(|(package, present)| (!present).then_some(package))
    .collect();
    if missing.is_empty() {
        return true;
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !in_ci,
        "container tests need {}, and CI=true forbids skipping them (cargo xtask setup)",
        missing.join(" and ")
    );
    eprintln!(
        "SKIPPED: container tests need {} (apt-get install {})",
        missing.join(" and "),
        missing.join(" ")
    );
    false
}
