//! Loads one copy of the kernel programs for a task, fills its maps, attaches the programs
//! to the task's cgroup and pins links and maps, so enforcement outlives this process.

use std::{
    borrow::Borrow,
    fs,
    net::IpAddr,
    os::fd::{AsFd, BorrowedFd},
    path::{Path, PathBuf},
};

use aya::{
    include_bytes_aligned,
    maps::{Map, MapData, PerCpuArray, RingBuf},
    programs::{
        links::{FdLink, PinnedLink},
        CgroupAttachMode, CgroupSkbAttachType, Program,
    },
    Ebpf, EbpfLoader,
};
use aya_log::EbpfLogger;
use enforcer_common::{policy::listed, Counter, Mode, TaskConfig, MAX_HTTP_PORTS};

use crate::{
    allowlist::{self, map_error, AllowlistMaps},
    error::{Error, Result},
    node,
};

/// The kernel programs, built by `build.rs` from `enforcer-ebpf`.
static EBPF_OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/enforcer-ebpf.o"));

/// Every program, in the order they are attached.
const PROGRAMS: [&str; 11] = [
    "sock_create",
    "setsockopt",
    "connect4",
    "connect6",
    "sendmsg4",
    "sendmsg6",
    "recvmsg4",
    "recvmsg6",
    "getpeername4",
    "getpeername6",
    "egress",
];

/// Programs that only restore what DNS steering rewrote: HTTP mode only.
const STEERING_RESTORERS: [&str; 4] = ["recvmsg4", "recvmsg6", "getpeername4", "getpeername6"];

/// The programs a task in `mode` needs. Full has nothing to refuse at setsockopt, and the hook
/// costs about 0.4 us per setsockopt() call (socket lock and option copy), so it is left out.
/// Only HTTP steers DNS, so only HTTP restores the steered peer in recvmsg and getpeername.
fn attached_programs(mode: Mode) -> impl Iterator<Item = &'static str> {
    PROGRAMS.into_iter().filter(move |name| match mode {
        Mode::Full => *name != "setsockopt" && !STEERING_RESTORERS.contains(name),
        Mode::None => !STEERING_RESTORERS.contains(name),
        Mode::Http => true,
    })
}

/// The per-CPU counters map, one slot per [`Counter`].
const COUNTERS: &str = "COUNTERS";

/// What each steered socket asked for (see the eBPF crate's maps).
const DNS_ORIGINAL: &str = "DNS_ORIGINAL";
/// The denial-event ring buffer.
const EVENTS: &str = "EVENTS";

/// Maps pinned next to the links: the allowlist and resolvers, for the task's resolver and
/// tools that change a running task's policy, and the rest (steered sockets, counters,
/// events) so a restarted agent can adopt the task.
const PINNED_MAPS: [&str; 8] = [
    allowlist::HOSTS_V4,
    allowlist::HOSTS_V6,
    allowlist::NETS_V4,
    allowlist::NETS_V6,
    allowlist::RESOLVERS,
    DNS_ORIGINAL,
    COUNTERS,
    EVENTS,
];

/// The `log` target of the kernel programs' aya-log lines (their crate name).
const KERNEL_LOG_TARGET: &str = "enforcer_ebpf";

/// An address or CIDR a task may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AllowedNet {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl AllowedNet {
    /// A single address.
    pub fn host(addr: IpAddr) -> AllowedNet {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        AllowedNet { addr, prefix_len }
    }

    /// A single address (kept in the hosts map) rather than a network (in the trie).
    pub fn is_host(&self) -> bool {
        *self == AllowedNet::host(self.addr)
    }

    /// Whether `ip` is in this network (IPv4-mapped IPv6 counts as the IPv4 it carries).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (addr, prefix_len) = (self.addr, self.prefix_len);
        crate::spec::Domain::Cidr { addr, prefix_len }.matches_ip(ip)
    }
}

impl std::fmt::Display for AllowedNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.addr, self.prefix_len) {
            (IpAddr::V4(_), 32) | (IpAddr::V6(_), 128) => write!(f, "{}", self.addr),
            _ => write!(f, "{}/{}", self.addr, self.prefix_len),
        }
    }
}

/// What the kernel enforces for one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskPolicy {
    pub mode: Mode,
    /// TCP ports allowed in HTTP mode (at most [`MAX_HTTP_PORTS`]).
    pub http_ports: Vec<u16>,
    /// Addresses and CIDRs allowed in HTTP mode from the start (IP literals and CIDRs of the
    /// spec); names add addresses as the task's resolver hands them out.
    pub allowed: Vec<AllowedNet>,
}

impl TaskPolicy {
    /// A policy with nothing to allow: None, or Full (which needs no list).
    pub fn without_allowlist(mode: Mode) -> TaskPolicy {
        TaskPolicy {
            mode,
            http_ports: Vec::new(),
            allowed: Vec::new(),
        }
    }

    fn kernel_config(&self, host_netns_cookie: u64) -> Result<TaskConfig> {
        if self.http_ports.len() > MAX_HTTP_PORTS {
            return Err(Error::Usage(format!(
                "at most {MAX_HTTP_PORTS} HTTP ports can be allowed, got {}",
                self.http_ports.len()
            )));
        }
        let mut http_ports = [0; MAX_HTTP_PORTS];
        http_ports[..self.http_ports.len()].copy_from_slice(&self.http_ports);
        Ok(TaskConfig {
            host_netns_cookie,
            mode: self.mode as u32,
            http_port_count: self.http_ports.len() as u32,
            http_ports,
        })
    }
}

/// How often one program ran and for how long in total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    pub name: &'static str,
    pub run_count: u64,
    pub run_time: std::time::Duration,
}

/// A task's programs attached to its cgroup, with their links and maps pinned under
/// `pin_dir`.
pub struct Enforcement {
    ebpf: Ebpf,
    allowlist: AllowlistMaps,
    /// The node's own addresses: marked in the allowlist, never allowed.
    node_addresses: Vec<IpAddr>,
    links: Vec<PinnedLink>,
    pin_dir: PathBuf,
    logger: Option<EbpfLogger<&'static dyn log::Log>>,
}

impl Enforcement {
    /// Loads and attaches everything for a task in `cgroup`, pinned under `pin_dir`
    /// (created here; it must not exist). On error nothing stays attached or pinned.
    pub fn attach(cgroup: &Path, policy: &TaskPolicy, pin_dir: &Path) -> Result<Enforcement> {
        let cookie = node::netns_cookie().map_err(Error::io("reading netns cookie of", "/"))?;
        let config = policy.kernel_config(cookie)?;
        let log_level = kernel_log_level();
        let mut ebpf = EbpfLoader::new()
            .override_global("TASK_CONFIG", &config, true)
            // Absent only if the programs log nothing at all.
            .override_global(aya_log::LEVEL, &log_level, false)
            .load(EBPF_OBJECT)?;
        // Kept alive from here on: dropping it closes the log map the programs use.
        let logger = EbpfLogger::init(&mut ebpf).ok();
        // Only what the mode attaches: verifying the rest would only slow the start.
        for name in attached_programs(policy.mode) {
            load_program(&mut ebpf, name)?;
        }
        let node_addresses = node::addresses().map_err(Error::io("listing addresses", "/"))?;
        crate::bpffs::create_pin_dir(pin_dir)?;
        let pinned = pin_maps(&ebpf, pin_dir).and_then(|()| AllowlistMaps::open(pin_dir));
        let allowlist = match pinned {
            Ok(allowlist) => allowlist,
            Err(e) => {
                log_unpin_failure(crate::bpffs::remove_pins(pin_dir));
                return Err(e);
            }
        };
        let mut enforcement = Enforcement {
            ebpf,
            allowlist,
            node_addresses,
            links: Vec::new(),
            pin_dir: pin_dir.to_path_buf(),
            logger,
        };
        let attached = enforcement
            .fill_maps(policy)
            .and_then(|()| enforcement.attach_and_pin(cgroup, policy.mode));
        if let Err(e) = attached {
            // Unpinning drops the links that made it, so nothing stays attached. The
            // attach error is the one worth reporting; a failed unpin is left to `gc`.
            log_unpin_failure(enforcement.release());
            return Err(e);
        }
        Ok(enforcement)
    }

    fn fill_maps(&mut self, policy: &TaskPolicy) -> Result<()> {
        // Node addresses first, as single addresses, which win over any allowed CIDR.
        for addr in &self.node_addresses {
            self.allowlist.set(AllowedNet::host(*addr), listed::NODE)?;
        }
        for net in &policy.allowed {
            if self.is_node_address(net) {
                tracing::warn!(%net, "an address of this node is never allowed");
                continue;
            }
            self.allow(*net)?;
        }
        Ok(())
    }

    fn is_node_address(&self, net: &AllowedNet) -> bool {
        net.is_host() && self.node_addresses.contains(&net.addr)
    }

    fn attach_and_pin(&mut self, cgroup: &Path, mode: Mode) -> Result<()> {
        let cgroup_dir = fs::File::open(cgroup).map_err(Error::io("opening cgroup", cgroup))?;
        for name in attached_programs(mode) {
            let path = self.pin_dir.join(name);
            let pinned = attach_pinned(&mut self.ebpf, name, cgroup_dir.as_fd(), &path)?;
            self.links.push(pinned);
        }
        Ok(())
    }

    /// Allows `net` from now on (HTTP mode); atomic for the task's sockets.
    pub fn allow(&mut self, net: AllowedNet) -> Result<()> {
        if self.is_node_address(&net) {
            return Err(Error::Invalid(format!("{net} is an address of this node")));
        }
        self.allowlist.set(net, listed::ALLOWED)
    }

    /// Stops allowing `net`; new connections to it, and packets of open ones, are refused
    /// from now on.
    pub fn disallow(&mut self, net: AllowedNet) -> Result<()> {
        if self.is_node_address(&net) {
            return Ok(());
        }
        self.allowlist.remove(net)
    }

    /// The task's counters, summed over CPUs.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>> {
        let map = self.ebpf.map(COUNTERS).ok_or(Error::Missing(COUNTERS))?;
        let array = PerCpuArray::<_, u64>::try_from(map).map_err(map_error(COUNTERS))?;
        Counter::ALL
            .iter()
            .map(|counter| Ok((*counter, counter_sum(&array, *counter)?)))
            .collect()
    }

    /// Run count and total run time of each program, as the kernel keeps them while
    /// BPF statistics are enabled (`aya::sys::enable_stats`); zero otherwise, and for the
    /// programs the task's mode does not load.
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>> {
        PROGRAMS
            .iter()
            .map(|name| {
                let program = self.ebpf.program(name).ok_or(Error::Missing(name))?;
                let (run_count, run_time) = match program.info() {
                    Ok(info) => (info.run_count(), info.run_time()),
                    Err(aya::programs::ProgramError::NotLoaded) => Default::default(),
                    Err(source) => return Err(Error::Program { name, source }),
                };
                Ok(ProgramStats {
                    name,
                    run_count,
                    run_time,
                })
            })
            .collect()
    }

    /// The denial-event ring buffer; can be taken once.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>> {
        let map = self.ebpf.take_map(EVENTS).ok_or(Error::Missing(EVENTS))?;
        RingBuf::try_from(map).map_err(map_error(EVENTS))
    }

    /// The aya-log reader of the kernel programs' debug output, if it could be set up.
    pub fn take_logger(&mut self) -> Option<EbpfLogger<&'static dyn log::Log>> {
        self.logger.take()
    }

    /// Detaches the programs and removes the pins. Call only once the task's cgroup is
    /// empty: from here on the cgroup is open.
    pub fn release(self) -> Result<()> {
        drop(self.links);
        crate::bpffs::remove_pins(&self.pin_dir)
    }
}

/// A running task's counters, opened through their pin: for readers that don't hold the
/// task's [`Enforcement`], such as the denial logger.
pub struct PinnedCounters(PerCpuArray<MapData, u64>);

impl PinnedCounters {
    /// The counters pinned under `pin_dir` by [`Enforcement::attach`].
    pub fn open(pin_dir: &Path) -> Result<PinnedCounters> {
        let data = MapData::from_pin(pin_dir.join(COUNTERS)).map_err(map_error(COUNTERS))?;
        let map = Map::from_map_data(data).map_err(map_error(COUNTERS))?;
        let array = PerCpuArray::try_from(map).map_err(map_error(COUNTERS))?;
        Ok(PinnedCounters(array))
    }

    /// One counter, summed over CPUs.
    pub fn get(&self, counter: Counter) -> Result<u64> {
        counter_sum(&self.0, counter)
    }
}

fn counter_sum<T: Borrow<MapData>>(array: &PerCpuArray<T, u64>, counter: Counter) -> Result<u64> {
    let values = array
        .get(&(counter as u32), 0)
        .map_err(map_error(COUNTERS))?;
    Ok(values.iter().sum())
}

/// The most verbose level at which the kernel programs' aya-log lines would be shown, as
/// aya-log's `AYA_LOG_LEVEL` (0: none). Frozen into the programs, it lets the verifier drop
/// the code of the other levels: a refusal no one will read about is not formatted.
fn kernel_log_level() -> u8 {
    use aya_log::Level as Kernel;
    use log::Level as User;
    let shown = |level: User| {
        let metadata = log::Metadata::builder()
            .level(level)
            .target(KERNEL_LOG_TARGET)
            .build();
        level <= log::max_level() && log::logger().enabled(&metadata)
    };
    [
        (User::Trace, Kernel::Trace),
        (User::Debug, Kernel::Debug),
        (User::Info, Kernel::Info),
        (User::Warn, Kernel::Warn),
        (User::Error, Kernel::Error),
    ]
    .into_iter()
    .find(|(user, _)| shown(*user))
    .map_or(0, |(_, kernel)| kernel as u8)
}

fn load_program(ebpf: &mut Ebpf, name: &'static str) -> Result<()> {
    let program = ebpf.program_mut(name).ok_or(Error::Missing(name))?;
    let result = match program {
        Program::CgroupSockAddr(p) => p.load(),
        Program::CgroupSock(p) => p.load(),
        Program::CgroupSkb(p) => p.load(),
        Program::CgroupSockopt(p) => p.load(),
        _ => return Err(Error::Missing(name)),
    };
    result.map_err(|source| Error::Program { name, source })
}

/// Attaches program `name` to `cgroup` with a bpf_link pinned at `path`.
fn attach_pinned(
    ebpf: &mut Ebpf,
    name: &'static str,
    cgroup: BorrowedFd<'_>,
    path: &Path,
) -> Result<PinnedLink> {
    let program = ebpf.program_mut(name).ok_or(Error::Missing(name))?;
    let fail = |source| Error::Program { name, source };
    let link: FdLink = match program {
        Program::CgroupSockAddr(p) => {
            let id = p.attach(cgroup, CgroupAttachMode::Single).map_err(fail)?;
            into_fd_link(name, p.take_link(id).map_err(fail)?)?
        }
        Program::CgroupSock(p) => {
            let id = p.attach(cgroup, CgroupAttachMode::Single).map_err(fail)?;
            into_fd_link(name, p.take_link(id).map_err(fail)?)?
        }
        Program::CgroupSockopt(p) => {
            let program = p.fd().map_err(fail)?.as_fd();
            return sockopt_link::attach_pinned(name, program, cgroup, path);
        }
        Program::CgroupSkb(p) => {
            let id = p
                .attach(
                    cgroup,
                    CgroupSkbAttachType::Egress,
                    CgroupAttachMode::Single,
                )
                .map_err(fail)?;
            into_fd_link(name, p.take_link(id).map_err(fail)?)?
        }
        _ => return Err(Error::Missing(name)),
    };
    link.pin(path).map_err(|source| Error::Pin {
        path: path.to_path_buf(),
        source,
    })
}

/// aya 0.14 attaches a cgroup_sockopt program but can't hand its link out to be pinned (no
/// `FdLink` conversion), so that link is created and pinned with bpf(2) directly, then
/// opened through its pin like the others.
mod sockopt_link {
    use std::{
        ffi::CString,
        io,
        os::{
            fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
            unix::ffi::OsStrExt,
        },
        path::Path,
    };

    use aya::{
        pin::PinError,
        programs::{links::PinnedLink, ProgramError},
        sys::SyscallError,
    };

    use crate::error::{Error, Result};

    const BPF_OBJ_PIN: libc::c_long = 6;
    const BPF_LINK_CREATE: libc::c_long = 28;
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

    fn bpf<T>(call: &'static str, cmd: libc::c_long, attr: &mut T) -> Result<i64, SyscallError> {
        // SAFETY: `attr` is a `bpf_attr` prefix for `cmd`, valid for the call.
        let rc =
            unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
        if rc < 0 {
            let io_error = io::Error::last_os_error();
            return Err(SyscallError { call, io_error });
        }
        Ok(rc)
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
        let fd =
            bpf("bpf_link_create", BPF_LINK_CREATE, &mut create).map_err(|e| Error::Program {
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
        bpf("bpf_obj_pin", BPF_OBJ_PIN, &mut pin)
            .map_err(|e| pin_error(PinError::SyscallError(e)))?;
        PinnedLink::from_pin(path)
            .map_err(|e| Error::Invalid(format!("opening pinned link {}: {e}", path.display())))
    }
}

fn into_fd_link(
    name: &'static str,
    link: impl TryInto<FdLink, Error = aya::programs::links::LinkError>,
) -> Result<FdLink> {
    link.try_into()
        .map_err(|e| Error::Invalid(format!("program {name}: not a bpf_link attachment: {e}")))
}

/// Pins every map of [`PINNED_MAPS`] under `pin_dir`.
fn pin_maps(ebpf: &Ebpf, pin_dir: &Path) -> Result<()> {
    for name in PINNED_MAPS {
        let map = ebpf.map(name).ok_or(Error::Missing(name))?;
        let path = pin_dir.join(name);
        map.pin(&path)
            .map_err(|source| Error::Pin { path, source })?;
    }
    Ok(())
}

fn log_unpin_failure(result: Result<()>) {
    if let Err(cleanup) = result {
        tracing::warn!(error = %cleanup, "removing the pins of a failed attach");
    }
}
