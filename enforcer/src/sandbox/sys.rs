//! Thin, allocation-free wrappers of the system calls the sandbox makes: safe to call in a
//! forked child of a multi-threaded process, between fork and exec.

use std::{ffi::CStr, io};

pub fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// mount(2) with optional C-string arguments.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fs_type: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is null or a valid C string.
    check(unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fs_type),
            flags,
            ptr(data).cast(),
        )
    })
}

/// Detaches a mount; one already gone with a mount above it is fine.
pub fn unmount(mount_point: &CStr) -> io::Result<()> {
    // SAFETY: umount2 with a valid C string.
    if unsafe { libc::umount2(mount_point.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        _ => Err(error),
    }
}

/// Makes `path` and every mount below it read-only in this mount namespace. It is bound
/// onto itself first, so that the read-only flag lands on a mount of its own even when
/// `path` is a plain directory of a larger mount. A path the kernel lacks is skipped.
pub fn read_only_tree(path: &CStr) -> io::Result<()> {
    match mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        bound => bound?,
    }
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr(2) with a valid path and a mount_attr of the size given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(rc as libc::c_int)
}

/// A copy of a mount, not attached anywhere yet (`open_tree(OPEN_TREE_CLONE)`).
pub struct DetachedMount(libc::c_int);

/// Copies the mount of `path` (just that file or directory) so it can be attached elsewhere,
/// even after `path` itself is covered.
pub fn clone_mount(path: &CStr) -> io::Result<DetachedMount> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    // SAFETY: open_tree(2) with a valid path.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    check(fd as libc::c_int)?;
    Ok(DetachedMount(fd as libc::c_int))
}

impl DetachedMount {
    /// Attaches the copy at `target` (which must exist).
    pub fn attach(self, target: &CStr) -> io::Result<()> {
        const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
        // SAFETY: move_mount(2) from our detached mount to a valid path.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                self.0,
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        check(rc as libc::c_int)
    }
}

impl Drop for DetachedMount {
    fn drop(&mut self) {
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// Creates a directory; one that exists is fine.
pub fn make_dir(path: &CStr) -> io::Result<()> {
    // SAFETY: mkdir with a valid C string.
    match check(unsafe { libc::mkdir(path.as_ptr(), 0o755) }) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        made => made,
    }
}

/// Creates an empty file to bind another file onto.
pub fn make_file(path: &CStr) -> io::Result<()> {
    // SAFETY: open/close with a valid C string.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        );
        check(fd)?;
        libc::close(fd);
    }
    Ok(())
}

/// Writes "0" to a cgroup's `cgroup.procs`: the calling process joins that cgroup.
pub fn join_cgroup(procs: &CStr) -> io::Result<()> {
    // SAFETY: open/write/close on a path we own the string of.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd)?;
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        libc::close(fd);
        if written != 1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Marks every descriptor from 3 up close-on-exec (not closed now: the spawner reports
/// errors through one of them).
pub fn close_inherited_at_exec() -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range on this process's own descriptors.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    check(rc as libc::c_int)
}

/// Keeps `fd` open across exec.
pub fn keep_open_at_exec(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor of this process.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) })
}

/// Drops every capability for good and takes on `identity`, with no_new_privs: after
/// this, nothing the process runs can gain a privilege.
pub fn drop_privileges(identity: Option<super::Identity>) -> io::Result<()> {
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        // Drop every capability from the bounding set (EINVAL past the last one).
        for cap in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 {
                break;
            }
        }
        if let Some(id) = identity {
            check(libc::setgroups(1, &id.gid))?;
            check(libc::setgid(id.gid))?;
            check(libc::setuid(id.uid))?;
        }
        check(libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ))?;
        clear_capabilities()?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    }
}

/// Empties the effective, permitted and inheritable sets (capset, version 3).
fn clear_capabilities() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a v3 header and two data words.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    check(rc as libc::c_int)
}
