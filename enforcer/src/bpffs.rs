//! The BPF filesystem, where a task's links and maps are pinned so that enforcement
//! outlives the enforcer's process.

use std::{ffi::CString, fs, io, path::Path};

use crate::{
    error::{Error, Result},
    mounts,
    paths::BPFFS,
};

/// Mounts bpffs at [`BPFFS`] unless one is mounted there already.
pub fn ensure_mounted() -> Result<()> {
    if mounts::mount_points("bpf")?
        .iter()
        .any(|m| m == Path::new(BPFFS))
    {
        return Ok(());
    }
    let bpffs_error = |source| Error::Bpffs {
        path: BPFFS.into(),
        source,
    };
    fs::create_dir_all(BPFFS).map_err(bpffs_error)?;
    let target = CString::new(BPFFS).expect("no NUL in path");
    let fs_type = CString::new("bpf").expect("no NUL");
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe {
        libc::mount(
            fs_type.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(bpffs_error(io::Error::last_os_error()));
    }
    Ok(())
}

/// Creates a task's pin directory, which must not exist yet (a run never shares, or later
/// removes, another run's pins); creates the shared parent too.
pub fn create_pin_dir(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new(BPFFS));
    // The parent goes with the last task's pins, maybe between our two calls: try again.
    for _ in 0..3 {
        fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
        match fs::create_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            created => return created.map_err(Error::io("creating", dir)),
        }
    }
    Err(Error::io("creating", dir)(io::ErrorKind::NotFound.into()))
}

/// Removes a task's pin directory, and the shared parent once it is empty; unlinking the
/// pins detaches the task's links.
pub fn remove_pins(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(Error::io("removing pins", dir)(e))
        }
        _ => {}
    }
    if let Some(parent) = dir.parent() {
        // Fails, as it should, while other tasks' pins are there.
        let _ = fs::remove_dir(parent);
    }
    Ok(())
}
