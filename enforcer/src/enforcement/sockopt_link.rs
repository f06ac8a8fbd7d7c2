//! aya 0.14 attaches a cgroup_sockopt program but can't hand its link out to be pinned (no
//! `FdLink` conversion), so that link is created and pinned with bpf(2) directly, then
//! opened through its pin like the others.

use std::{
    ffi::CString,
    os::{
        fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
};

use aya::{
    pin::PinError,
    programs::{links::PinnedLink, ProgramError},
};

use super::sys::{bpf, BPF_LINK_CREATE, BPF_OBJ_PIN};
use crate::error::{Error, Result};

const BPF_CGROUP_SETSOCKOPT: u32 = 22;

/// `bpf_attr` of BPF_LINK_CREATE, zero past the fields used.
#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    _unused: [u64; 4],
}

/// `bpf_attr` of BPF_OBJ_PIN.
#[repr(C)]
#[derive(Default)]
struct ObjPin {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    _pad: u32,
}

/// Attaches `program` (a setsockopt program) to `cgroup`; the link is pinned at `path`.
pub fn attach_pinned(
    name: &'static str,
    program: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    path: &Path,
) -> Result<PinnedLink> {
    let mut create = LinkCreate {
        prog_fd: program.as_raw_fd() as u32,
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_SETSOCKOPT,
        ..Default::default()
    };
    let fd = bpf("bpf_link_create", BPF_LINK_CREATE, &mut create).map_err(|e| Error::Program {
        name,
        source: ProgramError::SyscallError(e),
    })?;
    // SAFETY: a new descriptor, ours alone; closed once pinned (the pin holds the link).
    let link = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let pin_error = |source| Error::Pin {
        path: path.to_path_buf(),
        source,
    };
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|error| {
        pin_error(PinError::InvalidPinPath {
            path: path.to_path_buf(),
            error,
        })
    })?;
    let mut pin = ObjPin {
        pathname: c_path.as_ptr() as u64,
        bpf_fd: link.as_raw_fd() as u32,
        ..Default::default()
    };
    bpf("bpf_obj_pin", BPF_OBJ_PIN, &mut pin).map_err(|e| pin_error(PinError::SyscallError(e)))?;
    PinnedLink::from_pin(path)
        .map_err(|e| Error::Invalid(format!("opening pinned link {}: {e}", path.display())))
}
