//! One enforced task per network namespace of its own: tasks sharing one would share its
//! loopback, where a None task could reach an HTTP task's resolver and have it look names up.
//! Tasks in the enforcer's own namespace (the node's, for `enforcer run`) share it with the
//! node, where the kernel programs tell the node's loopback from the task's own.

use std::{
    fs::{self, File},
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::Path,
};

use crate::{
    error::{Error, Result},
    paths,
};

/// The enforcer's own network namespace.
const OWN_NETNS: &str = "/proc/self/ns/net";

/// Held while a task runs in a namespace; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct NetnsLock {
    /// Open for as long as the lock is held.
    _held: File,
}

impl NetnsLock {
    /// Takes the namespace of `netns` (an open nsfs file named `path`; `None`: the enforcer's
    /// own) for one task: alone when it is not the enforcer's own, else shared with the
    /// other tasks there.
    pub fn take(netns: Option<(&File, &Path)>) -> Result<NetnsLock> {
        let own = inode(&File::open(OWN_NETNS).map_err(Error::io("opening", OWN_NETNS))?)
            .map_err(Error::io("reading", OWN_NETNS))?;
        let (target, path) = match netns {
            Some((file, path)) => (
                inode(file).map_err(Error::io("reading network namespace", path))?,
                path,
            ),
            None => (own, Path::new(OWN_NETNS)),
        };
        let alone = target != own;
        let dir = Path::new(paths::NETNS_LOCKS);
        fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        let lock_path = dir.join(format!("{target}.lock"));
        let lock = File::create(&lock_path).map_err(Error::io("creating", &lock_path))?;
        let kind = if alone { libc::LOCK_EX } else { libc::LOCK_SH };
        // SAFETY: flock(2) on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), kind | libc::LOCK_NB) } != 0 {
            return Err(Error::Usage(format!(
                "network namespace {} already has an enforced task, and it is not the \
                 enforcer's own; tasks sharing one would share its loopback (one task per \
                 network namespace)",
                path.display()
            )));
        }
        Ok(NetnsLock { _held: lock })
    }
}

fn inode(netns: &File) -> std::io::Result<u64> {
    Ok(netns.metadata()?.ino())
}
