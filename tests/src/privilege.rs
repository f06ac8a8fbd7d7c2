//! Whether this process may build labs (namespaces, veth pairs, cgroups).

/// True when kernel tests can run here, that is when running as root.
///
/// Without root the test should return early: this prints why it is skipped.
///
/// # Panics
/// Without root when `CI=true`: in CI a kernel test must fail, never skip.
pub fn kernel_lab_available() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !in_ci,
        "kernel tests need root, and CI=true forbids skipping them"
    );
    eprintln!("SKIPPED: kernel tests need root; run them as root to include them");
    false
}
