//! The task's looked-up addresses, in its holdings and in the kernel, kept in step: an address
//! is opened before the answer naming it is released, retired when its last hold ends, and
//! removed once no connection to it is left.

use std::{
    collections::HashSet,
    fs::File,
    io::{BufReader, Seek},
    net::IpAddr,
    time::Instant,
};

use enforcer_common::policy::listed;
use procfs_core::{
    net::{TcpNetEntries, TcpState},
    ExplicitSystemInfo, FromBufReadSI,
};

use super::holdings::{HoldLimits, Holdings};
use crate::{
    allowlist::AllowlistMaps,
    dns::Grant,
    enforcement::AllowedNet,
    error::{Error, Result},
};

/// The spec's IP literals and CIDRs: open from the start and for good, so never held.
#[derive(Debug, Default)]
pub struct StaticNets {
    hosts: HashSet<IpAddr>,
    nets: Vec<AllowedNet>,
}

impl StaticNets {
    pub fn new(allowed: &[AllowedNet]) -> StaticNets {
        let (hosts, nets): (Vec<AllowedNet>, Vec<AllowedNet>) =
            allowed.iter().partition(|net| net.is_host());
        StaticNets {
            hosts: hosts.into_iter().map(|net| net.addr).collect(),
            nets,
        }
    }

    fn covers(&self, addr: IpAddr) -> bool {
        self.hosts.contains(&addr) || self.nets.iter().any(|net| net.contains(addr))
    }
}

/// One task's looked-up addresses.
pub struct Ledger {
    holdings: Holdings,
    maps: AllowlistMaps,
    statics: StaticNets,
    /// Addresses no name holds any more, kept for the connections still open to them.
    retired: HashSet<IpAddr>,
    /// The TCP tables of the task's network namespace (`/proc/.../net/tcp`, `tcp6`).
    tcp_tables: [File; 2],
}

impl Ledger {
    pub fn new(
        limits: HoldLimits,
        maps: AllowlistMaps,
        statics: StaticNets,
        tcp_tables: [File; 2],
    ) -> Ledger {
        Ledger {
            holdings: Holdings::new(limits),
            maps,
            statics,
            retired: HashSet::new(),
            tcp_tables,
        }
    }

    /// Opens what an answer grants. Returns once the kernel allows every address.
    pub fn grant(&mut self, grants: &[Grant], now: Instant) -> Result<()> {
        for grant in grants {
            if self.statics.covers(grant.addr) {
                continue;
            }
            let granted = self.holdings.grant(&grant.name, grant.addr, grant.ttl, now);
            if granted.opened || self.retired.remove(&grant.addr) {
                self.maps
                    .set(AllowedNet::host(grant.addr), listed::ALLOWED)?;
            }
            for addr in granted.closed {
                self.retire(addr)?;
            }
        }
        Ok(())
    }

    /// Ends the holds due by `now`, and removes retired addresses no connection uses.
    pub fn expire(&mut self, now: Instant) -> Result<()> {
        for addr in self.holdings.expire(now) {
            self.retire(addr)?;
        }
        if self.retired.is_empty() {
            return Ok(());
        }
        let in_use = self.connected_peers()?;
        let unused: Vec<IpAddr> = self
            .retired
            .iter()
            .filter(|addr| !in_use.contains(addr))
            .copied()
            .collect();
        for addr in unused {
            self.maps.remove(AllowedNet::host(addr))?;
            self.retired.remove(&addr);
        }
        Ok(())
    }

    /// Addresses held now, and those retired but still in use.
    pub fn fill(&self) -> (usize, usize) {
        (self.holdings.held_addresses(), self.retired.len())
    }

    /// Holds pushed out by a cap so far.
    pub fn evicted(&self) -> u64 {
        self.holdings.evicted()
    }

    /// New connects to `addr` are refused from now on; open ones keep going.
    fn retire(&mut self, addr: IpAddr) -> Result<()> {
        self.maps.set(AllowedNet::host(addr), listed::RETIRED)?;
        self.retired.insert(addr);
        Ok(())
    }

    /// Remote addresses of the TCP connections of the task's network namespace that may still
    /// send (every state but listening, closed and time-wait).
    fn connected_peers(&mut self) -> Result<HashSet<IpAddr>> {
        let info = ExplicitSystemInfo {
            boot_time_secs: 0,
            ticks_per_second: 100,
            page_size: 4096,
            is_little_endian: cfg!(target_endian = "little"),
        };
        let mut peers = HashSet::new();
        for table in &mut self.tcp_tables {
            table
                .rewind()
                .map_err(Error::io("rereading", "/proc/net/tcp"))?;
            let entries = TcpNetEntries::from_buf_read(BufReader::new(&*table), &info)
                .map_err(|e| Error::Invalid(format!("reading /proc/net/tcp: {e}")))?;
            peers.extend(
                entries
                    .0
                    .iter()
                    .filter(|e| {
                        !matches!(
                            e.state,
                            TcpState::Listen | TcpState::Close | TcpState::TimeWait
                        )
                    })
                    .map(|e| e.remote_address.ip().to_canonical()),
            );
        }
        Ok(peers)
    }
}
