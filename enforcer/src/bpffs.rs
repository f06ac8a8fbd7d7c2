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

/// Removes a task's pin directory; unlinking the pins detaches its links.
pub fn remove_pins(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("removing pins", dir)(e)),
        _ => Ok(()),
    }
}
