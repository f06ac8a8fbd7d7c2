//! `socket`: may this process create a socket of any family, type and protocol?

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use super::outcome::{During, Outcome};

/// Set in the family argument by `--high-bits`: the kernel reads an int and ignores it, so
/// a filter that compared all 64 bits of the argument would be fooled.
const HIGH_BIT: i64 = 1 << 32;

/// Calls socket(2) with these numbers and closes what it made. With `high_bits`, through
/// the raw system call with bit 32 of the family set.
pub fn create(family: i32, kind: i32, protocol: i32, high_bits: bool) -> Outcome {
    let family = i64::from(family) | if high_bits { HIGH_BIT } else { 0 };
    // SAFETY: socket(2) takes integers only.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_socket,
            family,
            i64::from(kind),
            i64::from(protocol),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error()).during("socket");
    }
    // SAFETY: the descriptor was just made and is owned by nothing else.
    drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    Ok(None)
}
