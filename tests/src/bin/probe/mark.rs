//! `mark`: may this process set a socket's mark (SO_MARK)?

use std::{io, net::UdpSocket, os::fd::AsRawFd};

use super::outcome::{During, Outcome};

/// Sets mark `value` on a new UDP socket.
pub fn set(value: u32) -> Outcome {
    let socket = UdpSocket::bind("127.0.0.1:0").during("bind")?;
    // SAFETY: setsockopt(2) with a u32 that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&value as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error()).during("setsockopt SO_MARK");
    }
    Ok(None)
}
