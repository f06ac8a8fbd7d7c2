//! The system calls a task may not make, refused by a seccomp filter installed by its init.
//!
//! In every mode, refused with EPERM (no event: they are not network):
//! - `ioctl()` TIOCSTI and TIOCLINUX: typing into a terminal (the task has none of its own:
//!   it runs in a new session, this is the second lock);
//! - new user namespaces (`unshare`, `clone` with CLONE_NEWUSER): they give back every
//!   capability over namespaced kernel code (nf_tables...), the usual route to a kernel
//!   exploit; `clone3`, whose flags live in memory, fails with ENOSYS so libc falls back.
//!
//! For None and HTTP tasks, refusals the init hears about (user notification) and reports
//! as denials:
//! - `socket()` of any family but AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK, and of netlink
//!   any protocol but NETLINK_ROUTE (what libc and `ip` need): `cgroup/sock_create` sees
//!   only inet sockets, and AF_VSOCK reaches the hypervisor host. Refused with EAFNOSUPPORT,
//!   as for a family the kernel lacks. (`socketpair()` makes only connected local pairs.)
//!   `socket(AF_INET, SOCK_PACKET)`, which the kernel turns into a packet socket, too.
//! - `io_uring_setup()`: io_uring's socket operation makes sockets without `socket()`.
//!   Refused with EPERM; programs fall back to plain system calls.
//! - System calls of another ABI (i386, x32) kill the task: their arguments (socketcall)
//!   can't be judged. (Full tasks may make i386 calls, under the same every-mode rules.)
//!
//! Should the init die, the kernel fails every notified call with ENOSYS: closed, not open.

use std::os::fd::RawFd;

use libseccomp::{
    error::SeccompError, ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext,
    ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall,
};
use serde::{Deserialize, Serialize};

/// Socket families a task without full network may create.
const ALLOWED_FAMILIES: [u64; 4] = [
    libc::AF_UNIX as u64,
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
    libc::AF_NETLINK as u64,
];
/// Every family number a kernel may know (AF_MAX is 46 in 6.18), with room to grow.
const FAMILY_NUMBERS: u64 = 64;
/// Netlink protocol numbers (MAX_LINKS is 32), with room to grow.
const NETLINK_PROTOCOLS: u64 = 64;
/// The obsolete socket type that makes an AF_INET socket a packet socket.
const SOCK_PACKET: u64 = 10;
/// The socket type without its SOCK_NONBLOCK / SOCK_CLOEXEC flags.
const SOCK_TYPE_MASK: u64 = 0xf;

/// One refusal, as the init passes it to the enforcer (a JSON line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxDenial {
    /// Pid in the task's PID namespace.
    pub pid: u32,
    pub comm: String,
    pub reason: SandboxReason,
    /// What was asked for: `af-40`, `netlink-9`, `io_uring`.
    pub what: String,
}

/// Why the sandbox refused a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxReason {
    SocketFamily,
    IoUring,
}

impl SandboxReason {
    /// The name users read in events, as for the kernel's reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxReason::SocketFamily => "socket-family",
            SandboxReason::IoUring => "io-uring",
        }
    }
}

/// Installs the filter on the calling process (and so on everything it starts); for None and
/// HTTP (`restrict_network`), returns the descriptor their refusals arrive on.
pub fn install(restrict_network: bool) -> Result<Option<RawFd>, String> {
    let install = || -> Result<Option<RawFd>, SeccompError> {
        let mut filter = ScmpFilterContext::new(ScmpAction::Allow)?;
        filter.set_act_badarch(ScmpAction::KillProcess)?;
        if !restrict_network {
            // Before any rule: rules are not copied to an architecture added later.
            filter.add_arch(ScmpArch::X86)?;
        }
        refuse_everywhere(&mut filter)?;
        if restrict_network {
            refuse_non_inet(&mut filter)?;
            filter.load()?;
            return filter.get_notify_fd().map(Some);
        }
        filter.load()?;
        Ok(None)
    };
    install().map_err(|e| format!("installing the seccomp filter: {e}"))
}

/// Ints are compared on their low 32 bits only, as the kernel reads them (a caller may put
/// anything in the upper half of the register).
fn low(arg: u32, value: u64) -> ScmpArgCompare {
    ScmpArgCompare::new(arg, ScmpCompareOp::MaskedEqual(u32::MAX.into()), value)
}

/// `flag` set in argument `arg`.
fn has_flag(arg: u32, flag: u64) -> ScmpArgCompare {
    ScmpArgCompare::new(arg, ScmpCompareOp::MaskedEqual(flag), flag)
}

fn refuse_everywhere(filter: &mut ScmpFilterContext) -> Result<(), SeccompError> {
    let refuse = ScmpAction::Errno(libc::EPERM);
    let ioctl = ScmpSyscall::from_name("ioctl")?;
    for request in [libc::TIOCSTI, libc::TIOCLINUX] {
        filter.add_rule_conditional(refuse, ioctl, &[low(1, request)])?;
    }
    let new_user = libc::CLONE_NEWUSER as u64;
    for call in ["unshare", "clone"] {
        let call = ScmpSyscall::from_name(call)?;
        filter.add_rule_conditional(refuse, call, &[has_flag(0, new_user)])?;
    }
    filter.add_rule(
        ScmpAction::Errno(libc::ENOSYS),
        ScmpSyscall::from_name("clone3")?,
    )?;
    // The kernel's keys are not namespaced, and `request_key` makes the kernel run
    // /sbin/request-key as root outside the task, whose dns_resolver helper looks a name of
    // the task's choosing up through the node's resolver. (The init joins its own session
    // keyring before this filter is loaded.)
    for call in ["request_key", "add_key", "keyctl"] {
        filter.add_rule(refuse, ScmpSyscall::from_name(call)?)?;
    }
    Ok(())
}

fn refuse_non_inet(filter: &mut ScmpFilterContext) -> Result<(), SeccompError> {
    let socket = ScmpSyscall::from_name("socket")?;
    for family in (0..FAMILY_NUMBERS).filter(|f| !ALLOWED_FAMILIES.contains(f)) {
        filter.add_rule_conditional(ScmpAction::Notify, socket, &[low(0, family)])?;
    }
    for protocol in 1..NETLINK_PROTOCOLS {
        let netlink = low(0, libc::AF_NETLINK as u64);
        filter.add_rule_conditional(ScmpAction::Notify, socket, &[netlink, low(2, protocol)])?;
    }
    let sock_packet =
        ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(SOCK_TYPE_MASK), SOCK_PACKET);
    filter.add_rule_conditional(
        ScmpAction::Notify,
        socket,
        &[low(0, libc::AF_INET as u64), sock_packet],
    )?;
    filter.add_rule(
        ScmpAction::Notify,
        ScmpSyscall::from_name("io_uring_setup")?,
    )?;
    Ok(())
}

/// Answers one pending refusal and says what it was; `None` when the caller is gone.
pub fn refuse_next(listener: RawFd) -> Option<SandboxDenial> {
    let request = ScmpNotifReq::receive(listener).ok()?;
    let args = request.data.args;
    let family = args[0] as u32;
    let (errno, reason, what) =
        if request.data.syscall == ScmpSyscall::from(libc::SYS_io_uring_setup as i32) {
            (libc::EPERM, SandboxReason::IoUring, "io_uring".to_string())
        } else if family == libc::AF_INET as u32 {
            // Only SOCK_PACKET is notified for AF_INET.
            (
                libc::EAFNOSUPPORT,
                SandboxReason::SocketFamily,
                "sock-packet".to_string(),
            )
        } else if family == libc::AF_NETLINK as u32 {
            let protocol = args[2] as u32;
            (
                libc::EAFNOSUPPORT,
                SandboxReason::SocketFamily,
                format!("netlink-{protocol}"),
            )
        } else {
            (
                libc::EAFNOSUPPORT,
                SandboxReason::SocketFamily,
                family_name(family),
            )
        };
    // Read while the caller still waits for the answer: its pid can't have been reused.
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", request.pid))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default();
    let response = ScmpNotifResp::new_error(request.id, -errno, ScmpNotifRespFlags::empty());
    response.respond(listener).ok()?;
    Some(SandboxDenial {
        pid: request.pid,
        comm,
        reason,
        what,
    })
}

fn family_name(family: u32) -> String {
    let known = match family as i32 {
        libc::AF_PACKET => "af-packet",
        libc::AF_VSOCK => "af-vsock",
        libc::AF_BLUETOOTH => "af-bluetooth",
        libc::AF_CAN => "af-can",
        libc::AF_XDP => "af-xdp",
        libc::AF_ALG => "af-alg",
        libc::AF_TIPC => "af-tipc",
        libc::AF_KEY => "af-key",
        _ => return format!("af-{family}"),
    };
    known.into()
}
