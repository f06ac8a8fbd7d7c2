//! `enforcer task-init`: the task's PID 1.
//!
//! `enforcer run` starts it in the task's cgroup and in new cgroup, mount and PID namespaces
//! ([`super::task_command`]). Being the process that created the PID namespace, it is not in
//! it, so it forks once: the child is PID 1, the parent only relays signals to it and passes
//! its exit status on. PID 1 mounts a /proc that shows only the task's processes, finishes the
//! sandbox (read-only kernel settings, a session keyring of its own, the seccomp filter; for
//! None and HTTP also Landlock scopes), drops every privilege, then starts the task and stays as its init: it forwards
//! signals, reaps orphans, answers the seccomp filter's refusals, and exits with the task's
//! status (128 + signal when a signal ended it). When PID 1 exits the kernel kills whatever
//! is left in the namespace.

use std::{
    ffi::{CString, OsString},
    io::Write,
    os::{
        fd::{FromRawFd, RawFd},
        unix::ffi::OsStrExt,
    },
};

use super::{landlock, read_only_proc, seccomp, sys, Identity};

/// Signals passed on to the task instead of ending its init.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Exit status when the task's program can't be found, or can't be run (as shells use).
const EXIT_NOT_FOUND: i32 = 127;
const EXIT_CANNOT_RUN: i32 = 126;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Exit status when the sandbox could not be finished: the task did not run.
pub const EXIT_SANDBOX_FAILED: i32 = 125;

/// What `enforcer task-init` is told.
pub struct InitOptions {
    pub identity: Option<Identity>,
    pub restrict_network: bool,
    /// The write end of the enforcer's pipe for sandbox denials.
    pub events_fd: RawFd,
    pub command: Vec<OsString>,
}

/// Runs the init; returns the exit status to leave with.
pub fn main(options: InitOptions) -> i32 {
    let signals = match SignalSet::block() {
        Ok(signals) => signals,
        Err(e) => return sandbox_failed(&format!("blocking signals: {e}")),
    };
    // SAFETY: fork in a single-threaded process (this one was just exec'd).
    match unsafe { libc::fork() } {
        -1 => sandbox_failed(&format!("fork: {}", std::io::Error::last_os_error())),
        0 => pid_one(&options, &signals),
        child => {
            // SAFETY: the events pipe is PID 1's to write; the relay has no use for it.
            unsafe { libc::close(options.events_fd) };
            supervise(child, &signals, None, None)
        }
    }
}

fn sandbox_failed(message: &str) -> i32 {
    eprintln!("enforcer: {message}; the task did not run");
    EXIT_SANDBOX_FAILED
}

/// PID 1 of the task's namespace.
fn pid_one(options: &InitOptions, signals: &SignalSet) -> i32 {
    let listener = match finish_sandbox(options) {
        Ok(listener) => listener,
        Err(message) => return sandbox_failed(&message),
    };
    let command = match exec_arguments(&options.command) {
        Ok(command) => command,
        Err(message) => return sandbox_failed(&message),
    };
    // SAFETY: fork in a single-threaded process.
    match unsafe { libc::fork() } {
        -1 => sandbox_failed(&format!("fork: {}", std::io::Error::last_os_error())),
        0 => exec_task(&command, signals, [listener, Some(options.events_fd)]),
        task => {
            let events = events_pipe(options.events_fd);
            let enforcer = Some(options.events_fd);
            supervise(task, signals, listener.map(|fd| (fd, events)), enforcer)
        }
    }
}

/// Everything that needs privilege, then the privileges go. Returns the seccomp listener.
fn finish_sandbox(options: &InitOptions) -> Result<Option<RawFd>, String> {
    mount_own_proc().map_err(|e| format!("mounting the task's /proc: {e}"))?;
    read_only_proc().map_err(|e| format!("making /proc/sys read-only: {e}"))?;
    // Keys of the enforcer's session (readable by "possession", whatever the uid) stay
    // out of the task, and tasks don't share one.
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) on this process.
    let joined = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0) };
    sys::check(joined as libc::c_int).map_err(|e| format!("a session keyring of its own: {e}"))?;
    if options.restrict_network {
        landlock::scope_to_task()?;
    }
    let listener = seccomp::install(options.restrict_network)?;
    sys::drop_privileges(options.identity).map_err(|e| format!("dropping privileges: {e}"))?;
    // Not even a task of the same user may trace the init or take its descriptors (the
    // seccomp listener answers for the task).
    // SAFETY: prctl on this process.
    sys::check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })
        .map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    Ok(listener)
}

/// A /proc of the new PID namespace: the task sees its own processes only.
fn mount_own_proc() -> std::io::Result<()> {
    sys::unmount(c"/proc")?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, None)
}

fn exec_arguments(command: &[OsString]) -> Result<Vec<CString>, String> {
    command
        .iter()
        .map(|arg| CString::new(arg.as_bytes()).map_err(|_| "argument with a NUL byte".into()))
        .collect()
}

/// The task's process: a session of its own (no controlling terminal to type into with
/// TIOCSTI), default signal
/// handling (Rust ignores SIGPIPE), nothing of the init's, then exec.
fn exec_task(command: &[CString], signals: &SignalSet, init_fds: [Option<RawFd>; 2]) -> i32 {
    // SAFETY: closing this process's own descriptors, a new session, and its signal state.
    unsafe {
        for fd in init_fds.into_iter().flatten() {
            libc::close(fd);
        }
        if libc::setsid() < 0 {
            return sandbox_failed(&format!("setsid: {}", std::io::Error::last_os_error()));
        }
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::sigprocmask(libc::SIG_UNBLOCK, &signals.mask, std::ptr::null_mut());
    }
    let mut argv: Vec<*const libc::c_char> = command.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of valid C strings.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    let error = std::io::Error::last_os_error();
    eprintln!(
        "enforcer: cannot start {}: {error}",
        command[0].to_string_lossy()
    );
    match error.raw_os_error() {
        Some(libc::ENOENT) => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_RUN,
    }
}

/// The pipe to the enforcer, non-blocking: a full or closed pipe loses a report, never
/// stalls the init.
fn events_pipe(fd: RawFd) -> std::fs::File {
    // SAFETY: the descriptor was passed in by the enforcer and is owned by this process.
    unsafe {
        libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        std::fs::File::from_raw_fd(fd)
    }
}

/// The forwarded signals and SIGCHLD, blocked so that they queue for [`supervise`] (PID 1
/// would otherwise drop every signal it has no handler for).
struct SignalSet {
    mask: libc::sigset_t,
}

impl SignalSet {
    fn block() -> std::io::Result<SignalSet> {
        // SAFETY: sigset manipulation on a local, then sigprocmask on this process.
        unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut mask);
            for signal in FORWARDED.iter().chain(&[libc::SIGCHLD]) {
                libc::sigaddset(&mut mask, *signal);
            }
            sys::check(libc::sigprocmask(
                libc::SIG_BLOCK,
                &mask,
                std::ptr::null_mut(),
            ))?;
            Ok(SignalSet { mask })
        }
    }
}

/// Waits for `child`, passing forwarded signals on, reaping every process that ends and
/// answering seccomp refusals; returns `child`'s exit status. With `enforcer` (the write end
/// of the enforcer's events pipe), it also returns, ending the task, once the enforcer is
/// gone: nothing would answer the task's DNS or clean up after it.
fn supervise(
    child: libc::pid_t,
    signals: &SignalSet,
    mut seccomp: Option<(RawFd, std::fs::File)>,
    enforcer: Option<RawFd>,
) -> i32 {
    // SAFETY: signalfd over the blocked set.
    let signal_fd = unsafe { libc::signalfd(-1, &signals.mask, libc::SFD_CLOEXEC) };
    if signal_fd < 0 {
        // SAFETY: killing our own child before giving up.
        unsafe { libc::kill(child, libc::SIGKILL) };
        return sandbox_failed("signalfd failed");
    }
    loop {
        let mut polled = [
            libc::pollfd {
                fd: signal_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: seccomp.as_ref().map_or(-1, |(fd, _)| *fd),
                events: libc::POLLIN,
                revents: 0,
            },
            // A pipe's write end polls POLLERR once its read end, the enforcer's, is closed.
            libc::pollfd {
                fd: enforcer.unwrap_or(-1),
                events: 0,
                revents: 0,
            },
        ];
        // SAFETY: poll over three pollfds we own.
        if unsafe { libc::poll(polled.as_mut_ptr(), 3, -1) } < 0 {
            continue;
        }
        if polled[2].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            eprintln!("enforcer: the enforcer is gone; ending the task");
            return 128 + libc::SIGKILL;
        }
        if polled[0].revents & libc::POLLIN != 0 {
            if let Some(status) = take_signal(signal_fd, child) {
                return status;
            }
        }
        if polled[1].revents & libc::POLLIN != 0 {
            if let Some((listener, events)) = seccomp.as_mut() {
                if let Some(denial) = seccomp::refuse_next(*listener) {
                    report(events, &denial);
                }
            }
        }
    }
}

/// Handles one queued signal; returns `child`'s exit status once it has ended.
fn take_signal(signal_fd: RawFd, child: libc::pid_t) -> Option<i32> {
    // SAFETY: reading one signalfd_siginfo from a signalfd.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    let read = unsafe {
        libc::read(
            signal_fd,
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        )
    };
    if read != size as isize {
        return None;
    }
    let signal = info.ssi_signo as libc::c_int;
    if signal != libc::SIGCHLD {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child, signal) };
        return None;
    }
    reap(child)
}

/// Reaps every ended process (orphans of the task come to PID 1); `child`'s status once
/// it is among them.
fn reap(child: libc::pid_t) -> Option<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on any child of ours, not blocking.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return None;
        }
        if pid == child {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
    }
}

fn report(events: &mut std::fs::File, denial: &seccomp::SandboxDenial) {
    if let Ok(mut line) = serde_json::to_vec(denial) {
        line.push(b'\n');
        let _ = events.write_all(&line);
    }
}
