//! A handle on one task's part of the shared allowlist and resolver maps in the kernel: its
//! entries, keyed by the task's number. The loader fills them through one; the task's
//! resolver opens its own from the pins, so each holds its own map descriptors and none
//! borrows the loader's program set.

use std::{
    collections::HashSet,
    net::IpAddr,
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

use aya::maps::{lpm_trie::Key, HashMap, LpmTrie, Map, MapData, MapError};
use enforcer_common::{
    policy::listed, ResolverAddr, ResolverKey, ResolverPortKey, TaskAddr, TASK_PREFIX_BITS,
};

use crate::{
    enforcement::AllowedNet,
    error::{Error, Result},
};

pub(crate) const HOSTS_V4: &str = "ALLOW_HOSTS_V4";
pub(crate) const HOSTS_V6: &str = "ALLOW_HOSTS_V6";
pub(crate) const NETS_V4: &str = "ALLOW_NETS_V4";
pub(crate) const NETS_V6: &str = "ALLOW_NETS_V6";
pub(crate) const RESOLVERS: &str = "RESOLVERS";
const RESOLVER_PORTS: &str = "RESOLVER_PORTS";

/// Writes and reads one task's allowlist (single addresses and CIDRs) and resolvers.
/// Handles made with [`AllowlistMaps::for_task`] or cloned share one set of map
/// descriptors: an agent with a thousand tasks holds five, not five thousand.
#[derive(Clone)]
pub struct AllowlistMaps {
    task: u32,
    maps: Arc<Mutex<SharedMaps>>,
}

/// The shared maps, one descriptor each.
struct SharedMaps {
    hosts_v4: HashMap<MapData, TaskAddr<4>, u8>,
    hosts_v6: HashMap<MapData, TaskAddr<16>, u8>,
    nets_v4: LpmTrie<MapData, TaskAddr<4>, u8>,
    nets_v6: LpmTrie<MapData, TaskAddr<16>, u8>,
    resolvers: HashMap<MapData, ResolverKey, ResolverAddr>,
    /// Resolver ports on a namespace's loopback, by owning task.
    resolver_ports: HashMap<MapData, ResolverPortKey, u32>,
}

impl AllowlistMaps {
    /// The part of task number `task` of the maps pinned under `pin_dir`.
    pub fn open(pin_dir: &Path, task: u32) -> Result<Self> {
        let take = |name| open_pinned_map(pin_dir, name);
        let maps = SharedMaps {
            hosts_v4: typed(HOSTS_V4, take(HOSTS_V4)?)?,
            hosts_v6: typed(HOSTS_V6, take(HOSTS_V6)?)?,
            nets_v4: typed(NETS_V4, take(NETS_V4)?)?,
            nets_v6: typed(NETS_V6, take(NETS_V6)?)?,
            resolvers: typed(RESOLVERS, take(RESOLVERS)?)?,
            resolver_ports: typed(RESOLVER_PORTS, take(RESOLVER_PORTS)?)?,
        };
        Ok(AllowlistMaps {
            task,
            maps: Arc::new(Mutex::new(maps)),
        })
    }

    /// A handle on task number `task`'s part of the same maps.
    pub fn for_task(&self, task: u32) -> AllowlistMaps {
        AllowlistMaps {
            task,
            maps: self.maps.clone(),
        }
    }

    fn maps(&self) -> MutexGuard<'_, SharedMaps> {
        // A panic while locked leaves the kernel maps as they were: nothing to repair.
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts `net` on the allowlist with a [`listed`] value: single addresses in the hosts
    /// maps, networks in the tries. Atomic for the task's sockets.
    pub fn set(&mut self, net: AllowedNet, value: u8) -> Result<()> {
        let mut maps = self.maps();
        check_prefix(&net)?;
        let task = self.task;
        let result = match net.addr {
            IpAddr::V4(a) if net.is_host() => {
                maps.hosts_v4
                    .insert(TaskAddr::new(task, a.octets()), value, 0)
            }
            IpAddr::V6(a) if net.is_host() => {
                maps.hosts_v6
                    .insert(TaskAddr::new(task, a.octets()), value, 0)
            }
            IpAddr::V4(a) => maps
                .nets_v4
                .insert(&net_key(task, net, a.octets()), value, 0),
            IpAddr::V6(a) => maps
                .nets_v6
                .insert(&net_key(task, net, a.octets()), value, 0),
        };
        result.map_err(map_error("ALLOW"))
    }

    /// Takes `net` off the allowlist; absent entries are fine.
    pub fn remove(&mut self, net: AllowedNet) -> Result<()> {
        let mut maps = self.maps();
        check_prefix(&net)?;
        let task = self.task;
        let result = match net.addr {
            IpAddr::V4(a) if net.is_host() => {
                maps.hosts_v4.remove(&TaskAddr::new(task, a.octets()))
            }
            IpAddr::V6(a) if net.is_host() => {
                maps.hosts_v6.remove(&TaskAddr::new(task, a.octets()))
            }
            IpAddr::V4(a) => maps.nets_v4.remove(&net_key(task, net, a.octets())),
            IpAddr::V6(a) => maps.nets_v6.remove(&net_key(task, net, a.octets())),
        };
        ignore_absent(result)
    }

    /// The single-address entry of `addr` ([`listed::NO`] when there is none).
    pub fn host_value(&self, addr: IpAddr) -> Result<u8> {
        let maps = self.maps();
        let result = match addr {
            IpAddr::V4(a) => maps.hosts_v4.get(&TaskAddr::new(self.task, a.octets()), 0),
            IpAddr::V6(a) => maps.hosts_v6.get(&TaskAddr::new(self.task, a.octets()), 0),
        };
        match result {
            Ok(value) => Ok(value),
            Err(MapError::KeyNotFound) => Ok(listed::NO),
            Err(e) => Err(map_error("ALLOW")(e)),
        }
    }

    /// Every task's single-address entries: (task, address, [`listed`] value).
    pub fn all_hosts(&self) -> Result<Vec<(u32, IpAddr, u8)>> {
        let maps = self.maps();
        let mut found = Vec::new();
        for entry in maps.hosts_v4.iter() {
            let (key, value) = entry.map_err(map_error(HOSTS_V4))?;
            found.push((key.task(), IpAddr::from(key.addr), value));
        }
        for entry in maps.hosts_v6.iter() {
            let (key, value) = entry.map_err(map_error(HOSTS_V6))?;
            found.push((key.task(), IpAddr::from(key.addr), value));
        }
        Ok(found)
    }

    /// Steers the task's DNS nowhere, in every namespace: it is refused.
    pub fn remove_resolvers(&mut self) -> Result<()> {
        let task = self.task;
        let mut maps = self.maps();
        remove_where(&mut maps.resolvers, RESOLVERS, |k| k.task == task)?;
        remove_ports_of(&mut maps.resolver_ports, |owner| owner == task)
    }

    /// Takes every entry of the task off the maps, resolvers included: what is left of a
    /// released task, or of one whose entries are not known (adopted after a crash).
    pub fn clear(&mut self) -> Result<()> {
        let task = self.task;
        self.remove_entries(|owner| owner == task)
    }

    /// Takes every entry of every task not in `live` off the maps: what a starting agent
    /// sweeps away, so no task number is ever reused with another task's entries.
    pub fn keep_only(&mut self, live: &HashSet<u32>) -> Result<()> {
        self.remove_entries(|owner| !live.contains(&owner))
    }

    /// Removes the entries (of any task) whose owner `doomed` says; a map that can't be
    /// read or written is an error, never skipped.
    fn remove_entries(&mut self, doomed: impl Fn(u32) -> bool) -> Result<()> {
        let mut maps = self.maps();
        let maps = &mut *maps;
        remove_where(&mut maps.hosts_v4, HOSTS_V4, |k| doomed(k.task()))?;
        remove_where(&mut maps.hosts_v6, HOSTS_V6, |k| doomed(k.task()))?;
        remove_where(&mut maps.nets_v4, NETS_V4, |k| doomed(k.data().task()))?;
        remove_where(&mut maps.nets_v6, NETS_V6, |k| doomed(k.data().task()))?;
        remove_where(&mut maps.resolvers, RESOLVERS, |k| doomed(k.task))?;
        remove_ports_of(&mut maps.resolver_ports, doomed)
    }

    /// Steers the task's DNS in the network namespace `netns_cookie` to `resolver`, whose
    /// ports other tasks sharing that loopback may then not reach. The ports of a resolver
    /// it replaces (a restarted agent's listens on new ones) are the task's no more.
    pub fn set_resolver(&mut self, netns_cookie: u64, resolver: ResolverAddr) -> Result<()> {
        let task = self.task;
        let key = ResolverKey::new(task, netns_cookie);
        let mut maps = self.maps();
        let previous = match maps.resolvers.get(&key, 0) {
            Ok(previous) => Some(previous),
            Err(MapError::KeyNotFound) => None,
            Err(e) => return Err(map_error(RESOLVERS)(e)),
        };
        for port in resolver_ports(&resolver) {
            let key = ResolverPortKey::new(netns_cookie, port);
            maps.resolver_ports
                .insert(key, task, 0)
                .map_err(map_error(RESOLVER_PORTS))?;
        }
        maps.resolvers
            .insert(key, resolver, 0)
            .map_err(map_error(RESOLVERS))?;
        let kept: Vec<u16> = resolver_ports(&resolver).collect();
        for port in previous.iter().flat_map(resolver_ports) {
            if !kept.contains(&port) {
                remove_port_of(&mut maps.resolver_ports, netns_cookie, port, task)?;
            }
        }
        Ok(())
    }

    /// DNS of the task in `netns_cookie` has nowhere to go from now on: it is refused.
    pub fn remove_resolver(&mut self, netns_cookie: u64) -> Result<()> {
        let key = ResolverKey::new(self.task, netns_cookie);
        let mut maps = self.maps();
        let resolver = match maps.resolvers.get(&key, 0) {
            Ok(resolver) => resolver,
            Err(MapError::KeyNotFound) => return Ok(()),
            Err(e) => return Err(map_error(RESOLVERS)(e)),
        };
        ignore_absent(maps.resolvers.remove(&key))?;
        for port in resolver_ports(&resolver) {
            remove_port_of(&mut maps.resolver_ports, netns_cookie, port, self.task)?;
        }
        Ok(())
    }
}

/// A map whose keys can be listed and removed.
trait KeyedMap {
    type Key;
    fn all_keys(&self) -> std::result::Result<Vec<Self::Key>, MapError>;
    fn remove_key(&mut self, key: &Self::Key) -> std::result::Result<(), MapError>;
}

impl<K: aya::Pod, V: aya::Pod> KeyedMap for HashMap<MapData, K, V> {
    type Key = K;
    fn all_keys(&self) -> std::result::Result<Vec<K>, MapError> {
        self.keys().collect()
    }
    fn remove_key(&mut self, key: &K) -> std::result::Result<(), MapError> {
        self.remove(key)
    }
}

impl<K: aya::Pod, V: aya::Pod> KeyedMap for LpmTrie<MapData, K, V> {
    type Key = Key<K>;
    fn all_keys(&self) -> std::result::Result<Vec<Key<K>>, MapError> {
        self.keys().collect()
    }
    fn remove_key(&mut self, key: &Key<K>) -> std::result::Result<(), MapError> {
        self.remove(key)
    }
}

/// Removes the keys of `map` that `doomed` picks.
fn remove_where<M: KeyedMap>(
    map: &mut M,
    name: &'static str,
    doomed: impl Fn(&M::Key) -> bool,
) -> Result<()> {
    let keys = map.all_keys().map_err(map_error(name))?;
    for key in keys.iter().filter(|key| doomed(key)) {
        ignore_absent(map.remove_key(key))?;
    }
    Ok(())
}

/// The host-order ports a resolver listens on (0: none in that family).
fn resolver_ports(resolver: &ResolverAddr) -> impl Iterator<Item = u16> {
    [resolver.port4, resolver.port6]
        .into_iter()
        .map(|port| u16::from_be(port as u16))
        .filter(|port| *port != 0)
}

/// Removes resolver port `port` of namespace `netns_cookie` if it is `task`'s, not (since)
/// another task's that shares the loopback.
fn remove_port_of(
    ports: &mut HashMap<MapData, ResolverPortKey, u32>,
    netns_cookie: u64,
    port: u16,
    task: u32,
) -> Result<()> {
    let key = ResolverPortKey::new(netns_cookie, port);
    match ports.get(&key, 0) {
        Ok(owner) if owner == task => ignore_absent(ports.remove(&key)),
        Ok(_) | Err(MapError::KeyNotFound) => Ok(()),
        Err(e) => Err(map_error(RESOLVER_PORTS)(e)),
    }
}

/// Removes the resolver ports whose owning task `doomed` picks.
fn remove_ports_of(
    ports: &mut HashMap<MapData, ResolverPortKey, u32>,
    doomed: impl Fn(u32) -> bool,
) -> Result<()> {
    let mut owned = Vec::new();
    for entry in ports.iter() {
        let (key, owner) = entry.map_err(map_error(RESOLVER_PORTS))?;
        if doomed(owner) {
            owned.push(key);
        }
    }
    for key in owned {
        ignore_absent(ports.remove(&key))?;
    }
    Ok(())
}

/// A removal's result, with "no such entry" (aya reports the kernel's ENOENT as a failed
/// syscall) counted as done.
fn ignore_absent(result: std::result::Result<(), MapError>) -> Result<()> {
    match result {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other.map_err(map_error("ALLOW")),
    }
}

fn typed<M: TryFrom<Map, Error = MapError>>(name: &'static str, map: Map) -> Result<M> {
    M::try_from(map).map_err(map_error(name))
}

fn net_key<const N: usize>(task: u32, net: AllowedNet, octets: [u8; N]) -> Key<TaskAddr<N>> {
    Key::new(
        TASK_PREFIX_BITS + u32::from(net.prefix_len),
        TaskAddr::new(task, octets),
    )
}

/// The map pinned as `name` under `dir`.
pub(crate) fn open_pinned_map(dir: &Path, name: &'static str) -> Result<Map> {
    let data = MapData::from_pin(dir.join(name)).map_err(map_error(name))?;
    Map::from_map_data(data).map_err(map_error(name))
}

pub(crate) fn map_error(name: &'static str) -> impl Fn(MapError) -> Error {
    move |source| Error::Map { name, source }
}

fn check_prefix(net: &AllowedNet) -> Result<()> {
    let max = if net.addr.is_ipv4() { 32 } else { 128 };
    if net.prefix_len > max {
        return Err(Error::Invalid(format!("{net}: prefix length over {max}")));
    }
    Ok(())
}
