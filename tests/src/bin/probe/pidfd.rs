//! `pidfd-signal`: can this process see another process, and may it signal it?

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::outcome::{During, Outcome};

/// pidfd_open(2) of `pid`, then pidfd_send_signal(2) of signal 0 (the permission check
/// alone): ESRCH when `pid` is not in this process's PID namespace, EPERM when it may not
/// be signalled.
pub fn signal(pid: libc::pid_t) -> Outcome {
    // SAFETY: pidfd_open takes a pid and flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).during("pidfd_open");
    }
    // SAFETY: the descriptor was just made and is owned by nothing else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: pidfd_send_signal with a pidfd we own and no siginfo.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error()).during("pidfd_send_signal");
    }
    Ok(None)
}
