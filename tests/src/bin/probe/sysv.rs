//! `msg-create` and `msg-find`: SysV message queues, which live in the IPC namespace, so two
//! processes share one only when they share that namespace.

use std::io;

use super::outcome::{During, Outcome};

/// Creates a queue under `key` (it must not exist yet), readable and writable by everyone;
/// reply = its id. The queue outlives this process, in its IPC namespace.
pub fn create(key: i32) -> Outcome {
    // SAFETY: msgget takes integers only.
    let id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o666) };
    if id < 0 {
        return Err(io::Error::last_os_error()).during("msgget");
    }
    Ok(Some(id.to_string()))
}

/// Looks the queue under `key` up; reply = its id (ENOENT when there is none here).
pub fn find(key: i32) -> Outcome {
    // SAFETY: msgget takes integers only.
    let id = unsafe { libc::msgget(key, 0) };
    if id < 0 {
        return Err(io::Error::last_os_error()).during("msgget");
    }
    Ok(Some(id.to_string()))
}
