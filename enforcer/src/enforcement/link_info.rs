//! What a pinned cgroup link says of its cgroup: the kernel's word on whether a task's
//! cgroup still lives, whatever path this process sees it under.

use std::{
    ffi::CString,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
};

use super::sys::{bpf, InfoByFd, ObjGet, BPF_OBJ_GET, BPF_OBJ_GET_INFO_BY_FD};
use crate::error::{Error, Result};

/// Offset of `cgroup.cgroup_id` in `struct bpf_link_info` (after type, id, prog_id, and the
/// union's 8-byte alignment).
const CGROUP_ID_OFFSET: usize = 16;

/// The id of the cgroup the link pinned at `path` is attached to; 0 once that cgroup is
/// gone (the kernel detaches its links).
pub fn cgroup_of_link(path: &Path) -> Result<u64> {
    let fail = |e: std::io::Error| Error::io("reading the pinned link", path)(e);
    let c_path =
        CString::new(path.as_os_str().as_bytes()).map_err(|e| fail(std::io::Error::other(e)))?;
    let mut get = ObjGet {
        pathname: c_path.as_ptr() as u64,
        ..Default::default()
    };
    let fd = bpf("bpf_obj_get", BPF_OBJ_GET, &mut get).map_err(|e| fail(e.io_error))?;
    // SAFETY: a new descriptor, ours alone.
    let link = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut info = [0u8; 64];
    let mut query = InfoByFd {
        bpf_fd: link.as_raw_fd() as u32,
        info_len: info.len() as u32,
        info: info.as_mut_ptr() as u64,
    };
    bpf("bpf_obj_get_info_by_fd", BPF_OBJ_GET_INFO_BY_FD, &mut query)
        .map_err(|e| fail(e.io_error))?;
    let mut id = [0u8; 8];
    id.copy_from_slice(&info[CGROUP_ID_OFFSET..CGROUP_ID_OFFSET + 8]);
    Ok(u64::from_ne_bytes(id))
}
