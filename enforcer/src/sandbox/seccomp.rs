//! The system calls a None or HTTP task may not make, refused by a seccomp filter whose
//! refusals the task's init hears about (user notification) and reports as denials.
//!
//! - `socket()` of any family but AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK, and of netlink
//!   any protocol but NETLINK_ROUTE (what libc and `ip` need): `cgroup/sock_create` sees
//!   only inet sockets, and AF_VSOCK reaches the hypervisor host. Refused with EAFNOSUPPORT,
//!   as for a family the kernel lacks. (`socketpair()` makes only connected local pairs.)
//! - `io_uring_setup()`: io_uring's socket operation makes sockets without `socket()`.
//!   Refused with EPERM; programs fall back to plain system calls.
//! - System calls of another ABI (i386, x32) kill the task: their arguments (socketcall)
//!   can't be judged.
//!
//! Should the init die, the kernel fails every notified call with ENOSYS: closed, not open.

use std::os::fd::RawFd;

use libseccomp::{
    ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpNotifReq, ScmpNotifResp,
    ScmpNotifRespFlags, ScmpSyscall,
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

/// One refusal, as the init passes it to the enforcer (a JSON line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxDenial {
    /// Pid in the task's PID namespace.
    pub pid: u32,
    pub comm: String,
    /// `socket-family` or `io-uring`.
    pub reason: String,
    /// What was asked for: `af-40`, `netlink-9`, `io_uring`.
    pub what: String,
}

/// Installs the filter on the calling process (and so on everything it starts) and returns
/// the descriptor its refusals arrive on.
pub fn install() -> Result<RawFd, String> {
    build()
        .and_then(|filter| {
            filter.load()?;
            filter.get_notify_fd()
        })
        .map_err(|e| format!("installing the seccomp filter: {e}"))
}

fn build() -> Result<ScmpFilterContext, libseccomp::error::SeccompError> {
    let mut filter = ScmpFilterContext::new(ScmpAction::Allow)?;
    filter.set_act_badarch(ScmpAction::KillProcess)?;
    let socket = ScmpSyscall::from_name("socket")?;
    // Families are ints: compare the low 32 bits only, as the kernel reads them.
    let low =
        |arg, value| ScmpArgCompare::new(arg, ScmpCompareOp::MaskedEqual(u32::MAX.into()), value);
    for family in (0..FAMILY_NUMBERS).filter(|f| !ALLOWED_FAMILIES.contains(f)) {
        filter.add_rule_conditional(ScmpAction::Notify, socket, &[low(0, family)])?;
    }
    for protocol in 1..NETLINK_PROTOCOLS {
        let netlink = low(0, libc::AF_NETLINK as u64);
        filter.add_rule_conditional(ScmpAction::Notify, socket, &[netlink, low(2, protocol)])?;
    }
    filter.add_rule(
        ScmpAction::Notify,
        ScmpSyscall::from_name("io_uring_setup")?,
    )?;
    Ok(filter)
}

/// Answers one pending refusal and says what it was; `None` when the caller is gone.
pub fn refuse_next(listener: RawFd) -> Option<SandboxDenial> {
    let request = ScmpNotifReq::receive(listener).ok()?;
    let args = request.data.args;
    let (errno, reason, what) =
        if request.data.syscall == ScmpSyscall::from(libc::SYS_io_uring_setup as i32) {
            (libc::EPERM, "io-uring", "io_uring".to_string())
        } else if args[0] as u32 == libc::AF_NETLINK as u32 {
            (
                libc::EAFNOSUPPORT,
                "socket-family",
                format!("netlink-{}", args[2] as u32),
            )
        } else {
            (
                libc::EAFNOSUPPORT,
                "socket-family",
                family_name(args[0] as u32),
            )
        };
    let response = ScmpNotifResp::new_error(request.id, -errno, ScmpNotifRespFlags::empty());
    response.respond(listener).ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", request.pid))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default();
    Some(SandboxDenial {
        pid: request.pid,
        comm,
        reason: reason.into(),
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
