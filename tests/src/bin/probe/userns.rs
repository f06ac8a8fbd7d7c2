//! `userns`: may this process make a new user namespace (and with it every capability over
//! the kernel code that namespaces guard)?

use std::io;

use clap::ValueEnum;

use super::i386;
use super::outcome::{During, Outcome};

/// Set in the flags by `--high-bits`.
const HIGH_BIT: u64 = 1 << 32;

/// The system call that asks for the namespace.
#[derive(Clone, Copy, ValueEnum)]
pub enum Call {
    /// unshare(CLONE_NEWUSER): this process moves into it.
    Unshare,
    /// clone(CLONE_NEWUSER | SIGCHLD): a child in it, which exits at once.
    Clone,
    /// clone3 with flags CLONE_NEWUSER (flags in memory): a child in it, which exits at once.
    Clone3,
}

/// Asks for a new user namespace with `call`, with `extra_flags` besides CLONE_NEWUSER; with
/// `high_bits` (unshare and clone), bit 32 of the flags set; with `i386`, through the i386
/// ABI. Ok when the namespace was made; reply = the call.
pub fn create(call: Call, extra_flags: u64, high_bits: bool, i386: bool) -> Outcome {
    let flags = libc::CLONE_NEWUSER as u64 | extra_flags;
    let high = if high_bits { HIGH_BIT } else { 0 };
    let sigchld = libc::SIGCHLD as u64;
    let (name, ret) = match call {
        Call::Unshare => {
            let ret = if i386 {
                // SAFETY: unshare takes flags only.
                i386::result(unsafe { i386::syscall(i386::UNSHARE, [flags as u32, 0, 0, 0, 0]) })
            } else {
                // SAFETY: unshare takes flags only.
                raw_result(unsafe { libc::syscall(libc::SYS_unshare, flags | high) })
            };
            ("unshare", ret)
        }
        Call::Clone => {
            let flags = flags | sigchld;
            let ret = if i386 {
                // SAFETY: clone with no new stack and no pointers: a fork, whose child only
                // exits (below).
                i386::result(unsafe { i386::syscall(i386::CLONE, [flags as u32, 0, 0, 0, 0]) })
            } else {
                // SAFETY: as above.
                raw_result(unsafe { libc::syscall(libc::SYS_clone, flags | high, 0, 0, 0, 0) })
            };
            ("clone", ret)
        }
        Call::Clone3 => {
            // struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack,
            // stack_size, tls, set_tid, set_tid_size, cgroup.
            let mut args = [0u64; 11];
            args[0] = flags;
            args[4] = sigchld;
            let size = std::mem::size_of_val(&args);
            let ret = if i386 {
                let mut page = i386::LowPage::new().during("mmap")?;
                let bytes: Vec<u8> = args.iter().flat_map(|a| a.to_ne_bytes()).collect();
                let pointer = page.put(&bytes);
                // SAFETY: clone3 with its arguments in our page below 4 GiB, no new stack: a
                // fork, whose child only exits (below).
                let ret = unsafe { i386::syscall(i386::CLONE3, [pointer, size as u32, 0, 0, 0]) };
                i386::result(ret)
            } else {
                // SAFETY: as above, with the arguments on our stack.
                raw_result(unsafe { libc::syscall(libc::SYS_clone3, args.as_ptr(), size) })
            };
            ("clone3", ret)
        }
    };
    let child = ret.during(name)?;
    if matches!(call, Call::Clone | Call::Clone3) {
        if child == 0 {
            // SAFETY: the child of a fork of this single-threaded process leaves at once.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(child, &mut status, 0) };
    }
    Ok(Some(name.to_owned()))
}

fn raw_result(ret: libc::c_long) -> io::Result<i32> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as i32)
    }
}
