//! What makes the task unable to undo its own enforcement, and keeps it from the doors that
//! are not IP. `enforcer run` starts the task with [`task_command`]: between fork and exec
//! ([`enter_namespaces`], no allocation) the child joins the task's cgroup, leaves the
//! terminal's session, and enters new cgroup, mount, IPC, UTS and PID namespaces, where:
//! - the cgroup2 hierarchy is remounted so that the task's own cgroup is the root (an
//!   unprivileged root could otherwise write its pid into an ancestor's `cgroup.procs`),
//!   every bpffs is gone (it can't unlink or open the pins), and the enforcer's run state is
//!   hidden under an empty read-only tmpfs;
//! - `/sys` and everything below it is read-only, and for None and HTTP `/run` is covered
//!   ([`host_sockets`]);
//! - descriptors beyond stdin, stdout and stderr are closed at exec.
//!
//! It then execs the enforcer's own init ([`init`]), PID 1 of the new namespace, which
//! mounts the task's /proc, makes kernel settings under it read-only, installs Landlock
//! scopes and the seccomp filter, drops every capability (no_new_privs), takes on the task's
//! user, and starts the task.

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

mod denials;
mod host_sockets;
pub mod init;
mod landlock;
mod seccomp;
mod sys;

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

pub use denials::log_sandbox_denials;
pub use seccomp::{SandboxDenial, SandboxReason};

/// What a task gets besides its cgroup's kernel programs.
#[derive(Clone, Copy, Debug)]
pub struct Confinement<'a> {
    /// The user it runs as; `None` keeps the enforcer's.
    pub identity: Option<Identity>,
    /// None and HTTP tasks: only inet, unix and routing-netlink sockets, no io_uring, no
    /// abstract unix sockets of the host, no host daemons' sockets under /run.
    pub restrict_network: bool,
    /// A network namespace (an open nsfs file) for the task to join; `None` keeps the
    /// enforcer's.
    pub netns: Option<std::os::fd::BorrowedFd<'a>>,
}

/// The command that starts `task` confined in the cgroup at `cgroup_dir`: the enforcer's own
/// binary as the task's PID 1 (`enforcer task-init`), in new cgroup, mount and PID
/// namespaces, which finishes the sandbox and execs the task. Sandbox denials come out of
/// `events` (the write end of a pipe).
pub fn task_command(
    task: &[std::ffi::OsString],
    cgroup_dir: &Path,
    confinement: &Confinement,
    events: std::os::fd::BorrowedFd<'_>,
) -> Result<Command> {
    let mut command = Command::new("/proc/self/exe");
    command.arg0("enforcer-init").arg("task-init");
    if let Some(id) = confinement.identity {
        command.args(["--uid", &id.uid.to_string(), "--gid", &id.gid.to_string()]);
    }
    if confinement.restrict_network {
        command.arg("--restrict-network");
    }
    let events_fd = std::os::fd::AsRawFd::as_raw_fd(&events);
    command.args(["--events-fd", &events_fd.to_string()]);
    let netns_fd = confinement
        .netns
        .map(|fd| std::os::fd::AsRawFd::as_raw_fd(&fd));
    command.arg("--").args(task);
    let paths = ConfinementPaths::new(cgroup_dir, confinement.restrict_network)?;
    // SAFETY: the closure only makes async-signal-safe syscalls on data prepared above.
    unsafe {
        command.pre_exec(move || {
            sys::close_inherited_at_exec()?;
            // Out of the terminal's process group: its Ctrl-C reaches the enforcer only,
            // which passes it on once.
            // SAFETY: setsid(2) in the forked child, which leads no group yet.
            sys::check(libc::setsid())?;
            if let Some(fd) = netns_fd {
                // SAFETY: setns(2) of this child into the namespace the caller opened.
                sys::check(libc::setns(fd, libc::CLONE_NEWNET))?;
            }
            enter_namespaces(&paths, libc::CLONE_NEWPID)?;
            sys::keep_open_at_exec(events_fd)
        });
    }
    Ok(command)
}

/// Arranges for `command` to start confined in the cgroup at `cgroup_dir` as a plain child
/// (no init, no PID namespace, no network restrictions beyond the kernel programs): for test
/// harnesses and benchmarks that need the process's own pid.
pub fn confine(command: &mut Command, cgroup_dir: &Path, identity: Option<Identity>) -> Result<()> {
    let paths = ConfinementPaths::new(cgroup_dir, false)?;
    // SAFETY: the closure only makes async-signal-safe syscalls on data prepared above.
    unsafe {
        command.pre_exec(move || {
            sys::close_inherited_at_exec()?;
            enter_namespaces(&paths, 0)?;
            read_only_proc()?;
            sys::drop_privileges(identity)
        });
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
    host_sockets: Option<host_sockets::Hiding>,
}

impl ConfinementPaths {
    fn new(cgroup_dir: &Path, hide_host_sockets: bool) -> Result<ConfinementPaths> {
        let cstrings = |paths: Vec<std::path::PathBuf>| -> Result<Vec<CString>> {
            paths.iter().map(|p| path_cstring(p)).collect()
        };
        let cgroup2_mounts = cstrings(mounts::mount_points("cgroup2")?)?;
        if cgroup2_mounts.is_empty() {
            return Err(Error::NoCgroup2);
        }
        Ok(ConfinementPaths {
            procs: path_cstring(&cgroup_dir.join("cgroup.procs"))?,
            cgroup2_mounts,
            bpf_mounts: cstrings(mounts::mount_points("bpf")?)?,
            run_state: path_cstring(Path::new(RUN_ROOT))?,
            host_sockets: if hide_host_sockets {
                Some(host_sockets::Hiding::prepare()?)
            } else {
                None
            },
        })
    }
}

/// Kernel settings a uid-0 task could otherwise write without any capability: every sysctl
/// (core_pattern would run its code as root outside the cgroup) with whatever is mounted
/// below (binfmt_misc registers interpreters for execs anywhere on the node), and sysrq.
/// Also hardware settings that check no capability (IRQ affinity, PCI config space where the
/// kernel is not locked down) and filesystem and driver knobs, as runc keeps them.
const READ_ONLY_PROC: [&CStr; 8] = [
    c"/proc/sys",
    c"/proc/sysrq-trigger",
    c"/proc/irq",
    c"/proc/bus",
    c"/proc/fs",
    c"/proc/acpi",
    c"/proc/scsi",
    c"/proc/driver",
];

/// The kernel's other writable pseudo-filesystems: sysfs with tracefs, debugfs, securityfs,
/// configfs, cgroup v1 and whatever else is mounted below it.
const READ_ONLY_SYS: &CStr = c"/sys";

fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Invalid(format!("path with NUL byte: {}", path.display())))
}

/// Runs in the forked child: no allocation, only syscalls. Joins the cgroup, then new
/// cgroup and mount namespaces (plus `extra_namespaces`) whose mounts hide what the task
/// must not touch.
fn enter_namespaces(paths: &ConfinementPaths, extra_namespaces: libc::c_int) -> io::Result<()> {
    sys::join_cgroup(&paths.procs)?;
    let no_exec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // IPC and UTS too: no SysV queue or shared memory shared with the host or other tasks.
    let namespaces =
        libc::CLONE_NEWCGROUP | libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    // SAFETY: unshare(2) of this child's own namespaces.
    sys::check(unsafe { libc::unshare(namespaces | extra_namespaces) })?;
    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    for mount_point in paths.bpf_mounts.iter().chain(&paths.cgroup2_mounts) {
        sys::unmount(mount_point)?;
    }
    // Before cgroup2 comes back, so the task's own cgroup stays writable (nested cgroups).
    sys::read_only_tree(READ_ONLY_SYS)?;
    // Remounted from inside the new cgroup namespace, cgroup2 shows only the task's cgroup.
    sys::mount(
        Some(c"cgroup2"),
        &paths.cgroup2_mounts[0],
        Some(c"cgroup2"),
        no_exec,
        None,
    )?;
    sys::mount(
        Some(c"tmpfs"),
        &paths.run_state,
        Some(c"tmpfs"),
        no_exec | libc::MS_RDONLY,
        Some(c"size=4k"),
    )?;
    if let Some(hiding) = &paths.host_sockets {
        hiding.apply()?;
    }
    Ok(())
}

/// Makes the kernel settings under /proc read-only (see [`READ_ONLY_PROC`]).
fn read_only_proc() -> io::Result<()> {
    READ_ONLY_PROC
        .iter()
        .try_for_each(|path| sys::read_only_tree(path))
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
