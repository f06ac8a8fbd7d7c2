//! What makes the task unable to undo its own enforcement. Applied in the child between
//! fork and exec, so the task's first instruction already runs confined:
//! - it joins its cgroup and gets a cgroup namespace rooted there;
//! - in a mount namespace of its own, the cgroup2 hierarchy is remounted so that its own
//!   cgroup is the root (an unprivileged root could otherwise write its pid into an
//!   ancestor's `cgroup.procs` and leave), every bpffs is gone (it can't unlink or open the
//!   pins), the enforcer's run state is hidden under an empty read-only tmpfs, and
//!   `/proc/sys` is read-only;
//! - descriptors beyond stdin, stdout and stderr are closed;
//! - it has no capabilities at all (no raw or packet sockets, no BPF, no mounts) and
//!   no_new_privs, and runs as the chosen user.

use std::{
    ffi::{CStr, CString},
    io,
    os::unix::process::CommandExt,
    path::Path,
    process::Command,
};

use crate::{
    error::{Error, Result},
    mounts,
    paths::RUN_ROOT,
};

/// The user and group the task runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

impl Identity {
    /// `--user USER[:GROUP]` (names or numbers) if given, else the user who invoked sudo
    /// (`SUDO_UID`/`SUDO_GID`), else `None`: the task keeps the enforcer's user.
    pub fn choose(user: Option<&str>) -> Result<Option<Identity>> {
        if let Some(spec) = user {
            return parse_user(spec).map(Some);
        }
        let from_env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        Ok(match (from_env("SUDO_UID"), from_env("SUDO_GID")) {
            (Some(uid), Some(gid)) => Some(Identity { uid, gid }),
            _ => None,
        })
    }
}

fn parse_user(spec: &str) -> Result<Identity> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let invalid = |what: &str| Error::Invalid(format!("--user {spec}: {what}"));
    let (uid, primary_gid) = match user.parse::<u32>() {
        // SAFETY: getpwuid returns a pointer into static storage, read at once.
        Ok(uid) => (
            uid,
            unsafe { libc::getpwuid(uid).as_ref() }.map(|pw| pw.pw_gid),
        ),
        Err(_) => {
            let name = CString::new(user).map_err(|_| invalid("bad user name"))?;
            // SAFETY: getpwnam returns a pointer into static storage, read at once.
            let pw = unsafe { libc::getpwnam(name.as_ptr()).as_ref() }
                .ok_or_else(|| invalid("no such user"))?;
            (pw.pw_uid, Some(pw.pw_gid))
        }
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let name = CString::new(g).map_err(|_| invalid("bad group name"))?;
                // SAFETY: as above, for getgrnam.
                unsafe { libc::getgrnam(name.as_ptr()).as_ref() }
                    .ok_or_else(|| invalid("no such group"))?
                    .gr_gid
            }
        },
        None => primary_gid.unwrap_or(uid),
    };
    Ok(Identity { uid, gid })
}

/// Arranges for `command` to start confined in the cgroup at `cgroup_dir`.
pub fn confine(command: &mut Command, cgroup_dir: &Path, identity: Option<Identity>) -> Result<()> {
    let cstrings = |paths: Vec<std::path::PathBuf>| -> Result<Vec<CString>> {
        paths.iter().map(|p| path_cstring(p)).collect()
    };
    let cgroup2_mounts = cstrings(mounts::mount_points("cgroup2")?)?;
    if cgroup2_mounts.is_empty() {
        return Err(Error::NoCgroup2);
    }
    let paths = ConfinementPaths {
        procs: path_cstring(&cgroup_dir.join("cgroup.procs"))?,
        cgroup2_mounts,
        bpf_mounts: cstrings(mounts::mount_points("bpf")?)?,
        run_state: path_cstring(Path::new(RUN_ROOT))?,
    };
    // SAFETY: the closure only makes async-signal-safe syscalls on data prepared above.
    unsafe {
        command.pre_exec(move || confine_self(&paths, identity));
    }
    Ok(())
}

/// Paths the child needs, made into C strings before the fork.
struct ConfinementPaths {
    procs: CString,
    /// Every cgroup2 and bpf mount: all go, or the task could leave its cgroup or reach
    /// the pins through one of them. The first cgroup2 mount point (the one
    /// `cgroup2_mount` names) gets the task's own cgroup back; never empty.
    cgroup2_mounts: Vec<CString>,
    bpf_mounts: Vec<CString>,
    run_state: CString,
}

/// Kernel settings a uid-0 task could otherwise write without any capability
/// (core_pattern would run its code as root outside the cgroup).
const READ_ONLY_PROC: [&CStr; 2] = [c"/proc/sys", c"/proc/sysrq-trigger"];

fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Invalid(format!("path with NUL byte: {}", path.display())))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs in the forked child: no allocation, only syscalls.
fn confine_self(paths: &ConfinementPaths, identity: Option<Identity>) -> io::Result<()> {
    // Descriptors the enforcer was given (sockets among them) stay out of the task: closed
    // at exec (not now: the spawner reports errors through one of them).
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range on this child's own descriptors.
    let marked = unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    check(marked as libc::c_int)?;
    join_cgroup(&paths.procs)?;
    // SAFETY: raw syscalls with valid pointers; failure of any step aborts the exec.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWCGROUP | libc::CLONE_NEWNS))?;
        mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
        for mount_point in paths.bpf_mounts.iter().chain(&paths.cgroup2_mounts) {
            unmount(mount_point)?;
        }
        // Remounted from inside the new cgroup namespace, cgroup2 shows only the task's cgroup.
        let no_exec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        mount(
            Some(c"cgroup2"),
            &paths.cgroup2_mounts[0],
            Some(c"cgroup2"),
            no_exec,
            None,
        )?;
        let read_only = no_exec | libc::MS_RDONLY;
        mount(
            Some(c"tmpfs"),
            &paths.run_state,
            Some(c"tmpfs"),
            read_only,
            Some(c"size=4k"),
        )?;
        for path in READ_ONLY_PROC {
            // Absent on kernels built without it (sysrq).
            match mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                bound => bound?,
            }
            let remount = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
            mount(None, path, None, remount, None)?;
        }
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
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
    }
    Ok(())
}

/// Detaches a mount; one already gone with a mount above it is fine.
fn unmount(mount_point: &CStr) -> io::Result<()> {
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

fn join_cgroup(procs: &CStr) -> io::Result<()> {
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

/// mount(2) with optional C-string arguments.
fn mount(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_user_and_group() {
        assert_eq!(
            parse_user("1000:100").unwrap(),
            Identity {
                uid: 1000,
                gid: 100
            }
        );
        // A uid with no passwd entry gets the group of the same number; one with an entry,
        // its primary group.
        let unknown = Identity {
            uid: 54321,
            gid: 54321,
        };
        assert_eq!(parse_user("54321").unwrap(), unknown);
        assert_eq!(parse_user("0").unwrap(), Identity { uid: 0, gid: 0 });
    }

    #[test]
    fn named_user_and_unknown_names() {
        assert_eq!(parse_user("root").unwrap(), Identity { uid: 0, gid: 0 });
        assert!(parse_user("no-such-user-here").is_err());
        assert!(parse_user("root:no-such-group-here").is_err());
    }
}
