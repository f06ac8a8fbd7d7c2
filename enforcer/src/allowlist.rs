//! A handle on one task's allowlist and resolver maps in the kernel. The loader fills them
//! through one; the task's resolver opens its own from the pins, so each holds its own map
//! descriptors and none borrows the loader's [`crate::enforcement::Enforcement`].

use std::{net::IpAddr, path::Path};

use aya::maps::{lpm_trie::Key, HashMap, LpmTrie, Map, MapData};
use enforcer_common::{policy::listed, ResolverAddr};

use crate::{
    enforcement::AllowedNet,
    error::{Error, Result},
};

pub(crate) const HOSTS_V4: &str = "ALLOW_HOSTS_V4";
pub(crate) const HOSTS_V6: &str = "ALLOW_HOSTS_V6";
pub(crate) const NETS_V4: &str = "ALLOW_NETS_V4";
pub(crate) const NETS_V6: &str = "ALLOW_NETS_V6";
pub(crate) const RESOLVERS: &str = "RESOLVERS";

/// Writes and reads one task's allowlist (single addresses and CIDRs) and resolvers.
pub struct AllowlistMaps {
    hosts_v4: HashMap<MapData, [u8; 4], u8>,
    hosts_v6: HashMap<MapData, [u8; 16], u8>,
    nets_v4: LpmTrie<MapData, [u8; 4], u8>,
    nets_v6: LpmTrie<MapData, [u8; 16], u8>,
    resolvers: HashMap<MapData, u64, ResolverAddr>,
}

impl AllowlistMaps {
    /// Builds the handle from maps `take` hands out by name (taken from a loaded object, or
    /// opened from pins).
    pub(crate) fn from_maps(mut take: impl FnMut(&'static str) -> Result<Map>) -> Result<Self> {
        Ok(AllowlistMaps {
            hosts_v4: typed(HOSTS_V4, take(HOSTS_V4)?)?,
            hosts_v6: typed(HOSTS_V6, take(HOSTS_V6)?)?,
            nets_v4: typed(NETS_V4, take(NETS_V4)?)?,
            nets_v6: typed(NETS_V6, take(NETS_V6)?)?,
            resolvers: typed(RESOLVERS, take(RESOLVERS)?)?,
        })
    }

    /// The maps of the task pinned under `pin_dir`.
    pub fn open(pin_dir: &Path) -> Result<Self> {
        Self::from_maps(|name| {
            let data = MapData::from_pin(pin_dir.join(name)).map_err(map_error(name))?;
            Map::from_map_data(data).map_err(map_error(name))
        })
    }

    /// Puts `net` on the allowlist with a [`listed`] value: single addresses in the hosts
    /// maps, networks in the tries. Atomic for the task's sockets.
    pub fn set(&mut self, net: AllowedNet, value: u8) -> Result<()> {
        check_prefix(&net)?;
        let result = match net.addr {
            IpAddr::V4(a) if net.is_host() => self.hosts_v4.insert(a.octets(), value, 0),
            IpAddr::V6(a) if net.is_host() => self.hosts_v6.insert(a.octets(), value, 0),
            IpAddr::V4(a) => self.nets_v4.insert(&net_key(net, a.octets()), value, 0),
            IpAddr::V6(a) => self.nets_v6.insert(&net_key(net, a.octets()), value, 0),
        };
        result.map_err(map_error("ALLOW"))
    }

    /// Takes `net` off the allowlist; absent entries are fine.
    pub fn remove(&mut self, net: AllowedNet) -> Result<()> {
        check_prefix(&net)?;
        let result = match net.addr {
            IpAddr::V4(a) if net.is_host() => self.hosts_v4.remove(&a.octets()),
            IpAddr::V6(a) if net.is_host() => self.hosts_v6.remove(&a.octets()),
            IpAddr::V4(a) => self.nets_v4.remove(&net_key(net, a.octets())),
            IpAddr::V6(a) => self.nets_v6.remove(&net_key(net, a.octets())),
        };
        match result {
            Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            other => other.map_err(map_error("ALLOW")),
        }
    }

    /// The single-address entry of `addr` ([`listed::NO`] when there is none).
    pub fn host_value(&self, addr: IpAddr) -> Result<u8> {
        let result = match addr {
            IpAddr::V4(a) => self.hosts_v4.get(&a.octets(), 0),
            IpAddr::V6(a) => self.hosts_v6.get(&a.octets(), 0),
        };
        match result {
            Ok(value) => Ok(value),
            Err(aya::maps::MapError::KeyNotFound) => Ok(listed::NO),
            Err(e) => Err(map_error("ALLOW")(e)),
        }
    }

    /// Steers the task's DNS in the network namespace `netns_cookie` to `resolver`.
    pub fn set_resolver(&mut self, netns_cookie: u64, resolver: ResolverAddr) -> Result<()> {
        self.resolvers
            .insert(netns_cookie, resolver, 0)
            .map_err(map_error(RESOLVERS))
    }

    /// DNS of the task in `netns_cookie` has nowhere to go from now on: it is refused.
    pub fn remove_resolver(&mut self, netns_cookie: u64) -> Result<()> {
        match self.resolvers.remove(&netns_cookie) {
            Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            other => other.map_err(map_error(RESOLVERS)),
        }
    }
}

fn typed<M: TryFrom<Map, Error = aya::maps::MapError>>(name: &'static str, map: Map) -> Result<M> {
    M::try_from(map).map_err(map_error(name))
}

fn net_key<const N: usize>(net: AllowedNet, octets: [u8; N]) -> Key<[u8; N]> {
    Key::new(net.prefix_len.into(), octets)
}

pub(crate) fn map_error(name: &'static str) -> impl Fn(aya::maps::MapError) -> Error {
    move |source| Error::Map { name, source }
}

fn check_prefix(net: &AllowedNet) -> Result<()> {
    let max = if net.addr.is_ipv4() { 32 } else { 128 };
    if net.prefix_len > max {
        return Err(Error::Invalid(format!("{net}: prefix length over {max}")));
    }
    Ok(())
}
