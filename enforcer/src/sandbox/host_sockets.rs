//! The host daemons' unix sockets, out of a None or HTTP task's reach.
//!
//! Daemons that relay to the network listen on pathname sockets under `/run`: the system
//! D-Bus (`/run/dbus/system_bus_socket`), systemd-resolved's varlink
//! (`/run/systemd/resolve/io.systemd.Resolve`), nscd (`/run/nscd/socket`), container
//! runtimes (`/run/docker.sock`, `/run/containerd/...`). The task gets an empty read-only
//! tmpfs over `/run` (and over `/var/run` when it is not a link to it), so none of them
//! exists for it. Only the node's resolv.conf, when it lives under `/run`, is bound back
//! read-only, so HTTP tasks still find their resolver.
//!
//! Sockets elsewhere (say `/tmp/.X11-unix`) stay reachable for a task whose user may write
//! them: run tasks as a user of their own. Abstract sockets are scoped by Landlock
//! ([`super::landlock`]).

use std::{ffi::CString, fs, io, path::Path};

use super::{path_cstring, sys};
use crate::error::Result;

/// Directories covered by an empty tmpfs.
const COVERED: [&str; 2] = ["/run", "/var/run"];
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// What to cover and what to bind back, prepared before the fork.
pub struct Hiding {
    covered: Vec<CString>,
    resolv_conf: Option<BoundFile>,
}

/// A file bound back into a covered directory: its directories (outermost first) and its
/// path.
struct BoundFile {
    directories: Vec<CString>,
    path: CString,
}

impl Hiding {
    pub fn prepare() -> Result<Hiding> {
        let mut covered = Vec::new();
        for dir in COVERED {
            let is_real_dir = fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
            if is_real_dir {
                covered.push(Path::new(dir));
            }
        }
        let resolv_conf = match fs::canonicalize(RESOLV_CONF) {
            Ok(real) if covered.iter().any(|dir| real.starts_with(dir)) => {
                Some(BoundFile::prepare(&real)?)
            }
            _ => None,
        };
        Ok(Hiding {
            covered: covered
                .into_iter()
                .map(path_cstring)
                .collect::<Result<_>>()?,
            resolv_conf,
        })
    }

    /// Runs in the forked child, in its own mount namespace: no allocation.
    pub fn apply(&self) -> io::Result<()> {
        // Taken before the cover, in this mount namespace (a bind from a mount of
        // another namespace is refused).
        let covered_file = match &self.resolv_conf {
            Some(file) => Some(sys::clone_mount(&file.path)?),
            None => None,
        };
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        for dir in &self.covered {
            sys::mount(
                Some(c"tmpfs"),
                dir,
                Some(c"tmpfs"),
                flags,
                Some(c"mode=755,size=64k"),
            )?;
        }
        if let (Some(file), Some(tree)) = (&self.resolv_conf, covered_file) {
            file.bind(tree)?;
        }
        for dir in &self.covered {
            sys::mount(
                None,
                dir,
                None,
                libc::MS_REMOUNT | libc::MS_RDONLY | flags,
                None,
            )?;
        }
        Ok(())
    }
}

impl BoundFile {
    fn prepare(real: &Path) -> Result<BoundFile> {
        let mut directories: Vec<&Path> = real.ancestors().skip(1).collect();
        directories.reverse();
        Ok(BoundFile {
            directories: directories
                .into_iter()
                .map(path_cstring)
                .collect::<Result<_>>()?,
            path: path_cstring(real)?,
        })
    }

    /// Puts `tree` (a detached copy of the file's mount) back at the file's path.
    fn bind(&self, tree: sys::DetachedMount) -> io::Result<()> {
        for dir in &self.directories {
            sys::make_dir(dir)?;
        }
        sys::make_file(&self.path)?;
        tree.attach(&self.path)?;
        let read_only = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        sys::mount(None, &self.path, None, read_only, None)
    }
}
