//! One enforced task per network namespace of its own: tasks sharing one would share its
//! loopback, where a None task could reach an HTTP task's resolver and have it look names up.

use std::{
    fs::{self, File},
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::Path,
};

use crate::{
    error::{Error, Result},
    paths,
};

/// Held while a task runs in the namespace; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct NetnsLock {
    /// Open for as long as the lock is held.
    _held: File,
}

impl NetnsLock {
    /// Takes the namespace of `netns` (an open nsfs file named `path`) for one task.
    pub fn take(netns: &File, path: &Path) -> Result<NetnsLock> {
        let inode = netns
            .metadata()
            .map_err(Error::io("reading network namespace", path))?
            .ino();
        let dir = Path::new(paths::NETNS_LOCKS);
        fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        let lock_path = dir.join(format!("{inode}.lock"));
        let lock = File::create(&lock_path).map_err(Error::io("creating", &lock_path))?;
        // SAFETY: flock(2) on a descriptor we own.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(Error::Usage(format!(
                "network namespace {} already has an enforced task; tasks sharing one would \
                 share its loopback (one task per network namespace)",
                path.display()
            )));
        }
        Ok(NetnsLock { _held: lock })
    }
}
