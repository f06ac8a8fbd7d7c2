//! The API's unix socket: created with its permissions already set, never over a live agent.

use std::{
    fs::{self, DirBuilder, Permissions},
    io,
    os::unix::{
        fs::{DirBuilderExt, FileTypeExt, PermissionsExt},
        net::{UnixListener as StdUnixListener, UnixStream},
    },
    path::{Path, PathBuf},
};

use tokio::net::UnixListener;

use crate::error::{Error, Result};

/// Mode of the socket's directory when it has to be created.
const DIR_MODE: u32 = 0o755;
/// Mode of the socket: its owner (root) and, when given, its group may connect.
const MODE_WITH_GROUP: u32 = 0o660;
const MODE_OWNER_ONLY: u32 = 0o600;

/// Listens on the unix socket `path`, readable and writable by its owner (the agent's user,
/// root) and by `group` if given: mode 0660 with that group, else 0600.
///
/// Creates the parent directory (0755) if missing. A socket file nobody answers on (left by an
/// agent that died) is replaced; a socket something answers on, or a file that is not a socket,
/// is an error. The socket is bound under a temporary name and renamed into place once its
/// owner and mode are set, so nobody can connect before. Call it within a Tokio runtime.
pub fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .ok_or_else(|| Error::Usage(format!("socket {}: give an absolute path", path.display())))?;
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(Error::io("creating the socket directory", dir))?;
    refuse_live_socket(path)?;
    let staging = staging_path(path);
    remove_if_present(&staging)?;
    let listener = StdUnixListener::bind(&staging).map_err(Error::io("binding", &staging))?;
    let placed = set_access(&staging, group)
        .and_then(|()| fs::rename(&staging, path).map_err(Error::io("renaming", &staging)));
    if let Err(e) = placed {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&staging);
        return Err(e);
    }
    listener
        .set_nonblocking(true)
        .and_then(|()| UnixListener::from_std(listener))
        .map_err(Error::io("listening on", path))
}

/// Errors if `path` exists and is anything but a socket nobody answers on.
fn refuse_live_socket(path: &Path) -> Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("looking at", path)(e)),
    };
    if !metadata.file_type().is_socket() {
        return Err(Error::Usage(format!(
            "{} exists and is not a socket; not replacing it",
            path.display()
        )));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(Error::Usage(format!(
            "another agent answers at {}; stop it first, or give another socket",
            path.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(Error::io("checking for an agent at", path)(e)),
    }
}

fn set_access(path: &Path, group: Option<u32>) -> Result<()> {
    let mode = match group {
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid))
                .map_err(Error::io("setting the group of", path))?;
            MODE_WITH_GROUP
        }
        None => MODE_OWNER_ONLY,
    };
    fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(Error::io("setting the mode of", path))
}

/// `.NAME.PID.new` next to `path`: the same file system, so the rename is atomic.
fn staging_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}.new", std::process::id()))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("removing", path)(e)),
        _ => Ok(()),
    }
}
