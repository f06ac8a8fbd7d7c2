//! The few bpf(2) commands aya 0.14 has no API for, called directly.

use std::io;

use aya::sys::SyscallError;

pub const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
pub const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
pub const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
pub const BPF_OBJ_PIN: libc::c_long = 6;
pub const BPF_OBJ_GET: libc::c_long = 7;
pub const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
pub const BPF_LINK_CREATE: libc::c_long = 28;

/// `bpf_attr` of the map element commands (`value` is `next_key` for BPF_MAP_GET_NEXT_KEY).
#[repr(C)]
#[derive(Default)]
pub struct MapElem {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

/// Runs bpf(2) command `cmd` with `attr`, a `bpf_attr` prefix for it.
pub fn bpf<T>(call: &'static str, cmd: libc::c_long, attr: &mut T) -> Result<i64, SyscallError> {
    // SAFETY: `attr` is a `bpf_attr` prefix for `cmd`, valid for the call; pointers in it
    // are the caller's, alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if rc < 0 {
        let io_error = io::Error::last_os_error();
        return Err(SyscallError { call, io_error });
    }
    Ok(rc)
}

/// `bpf_attr` of BPF_OBJ_GET.
#[repr(C)]
#[derive(Default)]
pub struct ObjGet {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
    pub path_fd: i32,
    pub _pad: u32,
}

/// `bpf_attr` of BPF_OBJ_GET_INFO_BY_FD.
#[repr(C)]
#[derive(Default)]
pub struct InfoByFd {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}
