//! Loads one copy of the kernel programs for a task, fills its maps, attaches the programs
//! to the task's cgroup and pins links and maps, so enforcement outlives this process.

use std::{
    fs,
    net::IpAddr,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use aya::{
    include_bytes_aligned,
    maps::{lpm_trie::Key, HashMap, LpmTrie, MapData, PerCpuArray, RingBuf},
    programs::{
        links::{FdLink, PinnedLink},
        CgroupAttachMode, CgroupSkbAttachType, Program,
    },
    Ebpf, EbpfLoader,
};
use aya_log::EbpfLogger;
use enforcer_common::{policy::listed, Counter, Mode, TaskConfig, MAX_HTTP_PORTS};

use crate::{
    error::{Error, Result},
    node,
};

/// The kernel programs, built by `build.rs` from `enforcer-ebpf`.
static EBPF_OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/enforcer-ebpf.o"));

/// Every program, in the order they are attached.
const PROGRAMS: [&str; 6] = [
    "sock_create",
    "connect4",
    "connect6",
    "sendmsg4",
    "sendmsg6",
    "egress",
];

/// Maps pinned next to the links, for tools that change a running task's policy.
const PINNED_MAPS: [&str; 7] = [
    "ALLOW_HOSTS_V4",
    "ALLOW_HOSTS_V6",
    "ALLOW_NETS_V4",
    "ALLOW_NETS_V6",
    "DNS_V4",
    "DNS_V6",
    "COUNTERS",
];

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
    /// Addresses and CIDRs allowed in HTTP mode.
    pub allowed: Vec<AllowedNet>,
    /// Resolvers the task may query on port 53 in HTTP mode.
    pub dns_servers: Vec<IpAddr>,
}

impl TaskPolicy {
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

/// A task's programs attached to its cgroup, with their links pinned under `pin_dir`.
pub struct Enforcement {
    ebpf: Ebpf,
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
        let mut ebpf = EbpfLoader::new()
            .override_global("TASK_CONFIG", &config, true)
            .load(EBPF_OBJECT)?;
        // Kept alive from here on: dropping it closes the log map the programs use.
        let logger = EbpfLogger::init(&mut ebpf).ok();
        for name in PROGRAMS {
            load_program(&mut ebpf, name)?;
        }
        let node_addresses = node::addresses().map_err(Error::io("listing addresses", "/"))?;
        let mut enforcement = Enforcement {
            ebpf,
            node_addresses,
            links: Vec::new(),
            pin_dir: pin_dir.to_path_buf(),
            logger,
        };
        enforcement.fill_maps(policy)?;
        crate::bpffs::create_pin_dir(pin_dir)?;
        if let Err(e) = enforcement.attach_and_pin(cgroup) {
            // Unpinning drops the links that made it, so nothing stays attached.
            enforcement.release()?;
            return Err(e);
        }
        Ok(enforcement)
    }

    fn fill_maps(&mut self, policy: &TaskPolicy) -> Result<()> {
        // Node addresses first, as single addresses, which win over any allowed CIDR.
        for addr in self.node_addresses.clone() {
            set_listed(&mut self.ebpf, AllowedNet::host(addr), listed::NODE)?;
        }
        for net in &policy.allowed {
            if self.is_node_address(net) {
                tracing::warn!(%net, "an address of this node is never allowed");
                continue;
            }
            self.allow(*net)?;
        }
        for server in &policy.dns_servers {
            insert_dns_server(&mut self.ebpf, *server)?;
        }
        Ok(())
    }

    fn is_node_address(&self, net: &AllowedNet) -> bool {
        net.is_host() && self.node_addresses.contains(&net.addr)
    }

    fn attach_and_pin(&mut self, cgroup: &Path) -> Result<()> {
        let cgroup_dir = fs::File::open(cgroup).map_err(Error::io("opening cgroup", cgroup))?;
        for name in PROGRAMS {
            let link = attach_program(&mut self.ebpf, name, cgroup_dir.as_fd())?;
            let path = self.pin_dir.join(name);
            let pinned = link
                .pin(&path)
                .map_err(|source| Error::Pin { path, source })?;
            self.links.push(pinned);
        }
        for name in PINNED_MAPS {
            let map = self.ebpf.map(name).ok_or(Error::Missing(name))?;
            let path = self.pin_dir.join(name);
            map.pin(&path)
                .map_err(|source| Error::Pin { path, source })?;
        }
        Ok(())
    }

    /// Allows `net` from now on (HTTP mode); atomic for the task's sockets.
    pub fn allow(&mut self, net: AllowedNet) -> Result<()> {
        if self.is_node_address(&net) {
            return Err(Error::Invalid(format!("{net} is an address of this node")));
        }
        set_listed(&mut self.ebpf, net, listed::ALLOWED)
    }

    /// Stops allowing `net`; new connections to it, and packets of open ones, are refused
    /// from now on.
    pub fn disallow(&mut self, net: AllowedNet) -> Result<()> {
        if self.is_node_address(&net) {
            return Ok(());
        }
        check_prefix(&net)?;
        let result = match net.addr {
            IpAddr::V4(a) if net.is_host() => hosts_v4(&mut self.ebpf)?.remove(&a.octets()),
            IpAddr::V6(a) if net.is_host() => hosts_v6(&mut self.ebpf)?.remove(&a.octets()),
            IpAddr::V4(a) => {
                nets_v4(&mut self.ebpf)?.remove(&Key::new(net.prefix_len.into(), a.octets()))
            }
            IpAddr::V6(a) => {
                nets_v6(&mut self.ebpf)?.remove(&Key::new(net.prefix_len.into(), a.octets()))
            }
        };
        result.map_err(map_error("ALLOW"))
    }

    /// The task's counters, summed over CPUs.
    pub fn counters(&self) -> Result<Vec<(Counter, u64)>> {
        let map = self
            .ebpf
            .map("COUNTERS")
            .ok_or(Error::Missing("COUNTERS"))?;
        let array = PerCpuArray::<_, u64>::try_from(map).map_err(map_error("COUNTERS"))?;
        Counter::ALL
            .iter()
            .map(|counter| {
                let values = array
                    .get(&(*counter as u32), 0)
                    .map_err(map_error("COUNTERS"))?;
                Ok((*counter, values.iter().sum()))
            })
            .collect()
    }

    /// Run count and total run time of each program, as the kernel keeps them while
    /// BPF statistics are enabled (`aya::sys::enable_stats`); zero otherwise.
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>> {
        PROGRAMS
            .iter()
            .map(|name| {
                let program = self.ebpf.program(name).ok_or(Error::Missing(name))?;
                let info = program
                    .info()
                    .map_err(|source| Error::Program { name, source })?;
                Ok(ProgramStats {
                    name,
                    run_count: info.run_count(),
                    run_time: info.run_time(),
                })
            })
            .collect()
    }

    /// The denial-event ring buffer; can be taken once.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .ok_or(Error::Missing("EVENTS"))?;
        RingBuf::try_from(map).map_err(map_error("EVENTS"))
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

fn map_error(name: &'static str) -> impl Fn(aya::maps::MapError) -> Error {
    move |source| Error::Map { name, source }
}

fn load_program(ebpf: &mut Ebpf, name: &'static str) -> Result<()> {
    let program = ebpf.program_mut(name).ok_or(Error::Missing(name))?;
    let result = match program {
        Program::CgroupSockAddr(p) => p.load(),
        Program::CgroupSock(p) => p.load(),
        Program::CgroupSkb(p) => p.load(),
        _ => return Err(Error::Missing(name)),
    };
    result.map_err(|source| Error::Program { name, source })
}

fn attach_program(
    ebpf: &mut Ebpf,
    name: &'static str,
    cgroup: std::os::fd::BorrowedFd<'_>,
) -> Result<FdLink> {
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
    Ok(link)
}

fn into_fd_link(
    name: &'static str,
    link: impl TryInto<FdLink, Error = aya::programs::links::LinkError>,
) -> Result<FdLink> {
    link.try_into()
        .map_err(|e| Error::Invalid(format!("program {name}: not a bpf_link attachment: {e}")))
}

fn check_prefix(net: &AllowedNet) -> Result<()> {
    let max = if net.addr.is_ipv4() { 32 } else { 128 };
    if net.prefix_len > max {
        return Err(Error::Invalid(format!("{net}: prefix length over {max}")));
    }
    Ok(())
}

/// Puts `net` on the allowlist with a `listed` value: single addresses in the hosts maps,
/// networks in the tries.
fn set_listed(ebpf: &mut Ebpf, net: AllowedNet, value: u8) -> Result<()> {
    check_prefix(&net)?;
    let result = match net.addr {
        IpAddr::V4(a) if net.is_host() => hosts_v4(ebpf)?.insert(a.octets(), value, 0),
        IpAddr::V6(a) if net.is_host() => hosts_v6(ebpf)?.insert(a.octets(), value, 0),
        IpAddr::V4(a) => {
            nets_v4(ebpf)?.insert(&Key::new(net.prefix_len.into(), a.octets()), value, 0)
        }
        IpAddr::V6(a) => {
            nets_v6(ebpf)?.insert(&Key::new(net.prefix_len.into(), a.octets()), value, 0)
        }
    };
    result.map_err(map_error("ALLOW"))
}

fn typed_map<'a, M>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<M>
where
    M: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.map_mut(name).ok_or(Error::Missing(name))?;
    M::try_from(map).map_err(map_error(name))
}

fn hosts_v4(ebpf: &mut Ebpf) -> Result<HashMap<&mut MapData, [u8; 4], u8>> {
    typed_map(ebpf, "ALLOW_HOSTS_V4")
}

fn hosts_v6(ebpf: &mut Ebpf) -> Result<HashMap<&mut MapData, [u8; 16], u8>> {
    typed_map(ebpf, "ALLOW_HOSTS_V6")
}

fn nets_v4(ebpf: &mut Ebpf) -> Result<LpmTrie<&mut MapData, [u8; 4], u8>> {
    typed_map(ebpf, "ALLOW_NETS_V4")
}

fn nets_v6(ebpf: &mut Ebpf) -> Result<LpmTrie<&mut MapData, [u8; 16], u8>> {
    typed_map(ebpf, "ALLOW_NETS_V6")
}

fn insert_dns_server(ebpf: &mut Ebpf, addr: IpAddr) -> Result<()> {
    let result = match addr {
        IpAddr::V4(a) => {
            typed_map::<HashMap<_, [u8; 4], u8>>(ebpf, "DNS_V4")?.insert(a.octets(), 1, 0)
        }
        IpAddr::V6(a) => {
            typed_map::<HashMap<_, [u8; 16], u8>>(ebpf, "DNS_V6")?.insert(a.octets(), 1, 0)
        }
    };
    result.map_err(map_error("DNS"))
}
