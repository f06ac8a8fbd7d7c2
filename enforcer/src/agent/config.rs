//! The agent's configuration file (YAML) and the command-line flags that override it.
//!
//! ```yaml
//! socket: /run/enforcer/agent.sock   # where the API listens
//! group: enforcer                    # group (name or gid) allowed to use the API
//! upstream: [192.0.2.53, "[2001:db8::53]:5353"]
//! default_network: skip              # containers without annotations: skip or none
//! http_ports: [80, 443]
//! allow_internal: [10.1.0.0/16]
//! dns_min_ttl_s: 60
//! max_tasks: 4096                    # tasks enforced at once
//! ```
//!
//! Every key is optional; unknown keys are errors.

use std::{
    ffi::CString,
    io,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use super::api::DEFAULT_SOCKET;
use crate::oci::UnannotatedPolicy;
use crate::{
    enforcement::AllowedNet,
    error::{Error, Result},
    run::DEFAULT_HTTP_PORTS,
    spec::{self, Domain},
};

/// Port of an upstream resolver given without one.
const DNS_PORT: u16 = 53;
/// Default and bounds of `dns_min_ttl_s` (as `enforcer run --dns-min-ttl`).
const DEFAULT_DNS_MIN_TTL_S: u32 = 60;
const MAX_DNS_MIN_TTL_S: u32 = 86_400;
/// Default and bounds of `max_tasks`. Each task holds an entry of the kernel's per-CPU
/// counters array, made this size up front: 80 bytes a task per possible CPU.
const DEFAULT_MAX_TASKS: u32 = 4_096;
const MAX_MAX_TASKS: u32 = 65_536;

/// The agent's settings, from [`AgentConfig::load`] or [`AgentConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// Where the API listens.
    pub socket: PathBuf,
    /// The group allowed to use the API (socket mode 0660); only root when `None` (0600).
    pub group: Option<u32>,
    /// Resolvers the agent looks allowed names up with; empty means the node's.
    pub upstream: Vec<SocketAddr>,
    pub default_network: UnannotatedPolicy,
    /// TCP ports HTTP mode allows when a request names none: sorted, deduplicated.
    pub http_ports: Vec<u16>,
    /// Internal addresses a looked-up name may still open.
    pub allow_internal: Vec<AllowedNet>,
    /// How long a looked-up address stays allowed at least.
    pub dns_min_ttl: Duration,
    /// How many tasks may be enforced at once.
    pub max_tasks: u32,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            socket: PathBuf::from(DEFAULT_SOCKET),
            group: None,
            upstream: Vec::new(),
            default_network: UnannotatedPolicy::default(),
            http_ports: DEFAULT_HTTP_PORTS.to_vec(),
            allow_internal: Vec::new(),
            dns_min_ttl: Duration::from_secs(DEFAULT_DNS_MIN_TTL_S.into()),
            max_tasks: DEFAULT_MAX_TASKS,
        }
    }
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    socket: Option<PathBuf>,
    group: Option<GroupRef>,
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    default_network: UnannotatedPolicy,
    http_ports: Option<Vec<u16>>,
    #[serde(default)]
    allow_internal: Vec<String>,
    dns_min_ttl_s: Option<u32>,
    max_tasks: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GroupRef {
    Gid(u32),
    Name(String),
}

impl AgentConfig {
    /// Reads and checks the configuration file at `path`; errors name the file and the key.
    pub fn load(path: &Path) -> Result<AgentConfig> {
        let text = std::fs::read_to_string(path).map_err(Error::io("reading config", path))?;
        AgentConfig::parse(&text)
            .map_err(|message| Error::Invalid(format!("config file {}: {message}", path.display())))
    }

    /// Checks a configuration's text; an empty text gives the defaults.
    fn parse(text: &str) -> Result<AgentConfig, String> {
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?
        };
        let defaults = AgentConfig::default();
        Ok(AgentConfig {
            socket: match file.socket {
                Some(socket) if socket.is_absolute() => socket,
                Some(socket) => {
                    return Err(format!(
                        "socket: {} is not an absolute path",
                        socket.display()
                    ))
                }
                None => defaults.socket,
            },
            group: file.group.map(|group| group.gid()).transpose()?,
            upstream: indexed("upstream", &file.upstream, parse_upstream)?,
            default_network: file.default_network,
            http_ports: match file.http_ports {
                Some(ports) => {
                    checked_http_ports(&ports).map_err(|e| format!("http_ports: {e}"))?
                }
                None => defaults.http_ports,
            },
            allow_internal: indexed("allow_internal", &file.allow_internal, parse_allowed_net)?,
            dns_min_ttl: match file.dns_min_ttl_s {
                Some(seconds @ 1..=MAX_DNS_MIN_TTL_S) => Duration::from_secs(seconds.into()),
                Some(seconds) => {
                    return Err(format!(
                        "dns_min_ttl_s: {seconds} is not within 1 to {MAX_DNS_MIN_TTL_S}"
                    ))
                }
                None => defaults.dns_min_ttl,
            },
            max_tasks: match file.max_tasks {
                Some(tasks @ 1..=MAX_MAX_TASKS) => tasks,
                Some(tasks) => {
                    return Err(format!(
                        "max_tasks: {tasks} is not within 1 to {MAX_MAX_TASKS}"
                    ))
                }
                None => defaults.max_tasks,
            },
        })
    }

    /// Lets command-line flags win over the file: `--socket` when given, `--upstream` when
    /// any is given.
    pub fn override_with(&mut self, socket: Option<PathBuf>, upstream: &[SocketAddr]) {
        if let Some(socket) = socket {
            self.socket = socket;
        }
        if !upstream.is_empty() {
            self.upstream = upstream.to_vec();
        }
    }
}

impl GroupRef {
    fn gid(self) -> Result<u32, String> {
        match self {
            GroupRef::Gid(gid) => Ok(gid),
            GroupRef::Name(name) => match name.parse() {
                Ok(gid) => Ok(gid),
                Err(_) => match gid_of_group(&name) {
                    Ok(Some(gid)) => Ok(gid),
                    Ok(None) => Err(format!("group: no group named {name:?}")),
                    Err(e) => Err(format!("group: looking up {name:?}: {e}")),
                },
            },
        }
    }
}

/// An upstream resolver: `IP` (port 53) or `IP:port` (`[IPv6]:port`).
pub fn parse_upstream(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    raw.parse::<SocketAddr>()
        .or_else(|_| {
            raw.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, DNS_PORT))
        })
        .map_err(|_| format!("{raw:?} is not IP or IP:port"))
}

/// An internal address or network a name may open: an IP or a CIDR, as a spec's domains
/// write them.
pub fn parse_allowed_net(raw: &str) -> Result<AllowedNet, String> {
    match Domain::parse(raw).map_err(|e| e.to_string())? {
        Domain::Ip(addr) => Ok(AllowedNet::host(addr)),
        Domain::Cidr { addr, prefix_len } => Ok(AllowedNet { addr, prefix_len }),
        Domain::Exact(_) | Domain::Wildcard(_) => {
            Err(format!("{raw:?} is a name; give an IP or CIDR"))
        }
    }
}

/// HTTP ports of the config: at least one, none of them 0, at most as many as the kernel
/// programs hold.
fn checked_http_ports(ports: &[u16]) -> Result<Vec<u16>, String> {
    if ports.is_empty() {
        return Err("give at least one port, or leave the key out for 80 and 443".to_owned());
    }
    if ports.contains(&0) {
        return Err("port 0 is not a port".to_owned());
    }
    spec::http_ports(ports).map_err(|e| e.to_string())
}

/// Parses every entry of the list `key`, naming the first bad one by its index.
fn indexed<T>(
    key: &str,
    raw: &[String],
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, entry)| parse(entry).map_err(|e| format!("{key}[{i}]: {e}")))
        .collect()
}

/// The gid of the group `name` from the system's group database (`getgrnam_r`, safe with
/// other threads).
fn gid_of_group(name: &str) -> io::Result<Option<u32>> {
    let name = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut buffer = vec![0u8; 1024];
    loop {
        // SAFETY: all-zero bytes are a valid `group` (null pointers, zero ids).
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings it writes into `buffer`
        // are not read afterwards, only the gid.
        let status = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut group,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        match status {
            0 => return Ok((!found.is_null()).then_some(group.gr_gid)),
            libc::ERANGE if buffer.len() < 1 << 20 => buffer.resize(buffer.len() * 2, 0),
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(test)]
mod tests;
