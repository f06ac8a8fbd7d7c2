//! The task's looked-up addresses, in its holdings and in the kernel, kept in step: an address
//! is opened before the answer naming it is released, retired when its last hold ends, and
//! removed once no connection to it is left.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    time::Instant,
};

use enforcer_common::policy::listed;

use super::holdings::{HeldAddress, HoldLimits, Holdings};
use crate::{allowlist::AllowlistMaps, dns::Grant, enforcement::AllowedNet, error::Result};

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
    /// Addresses no name holds any more, kept for the connections still open to them, each
    /// with the number of its retirement (an address may be opened and retired again).
    retired: HashMap<IpAddr, u64>,
    retirements: u64,
    /// Addresses whose kernel entry could be neither retired nor removed: tried again on
    /// every expiry tick until it goes.
    unclosed: HashSet<IpAddr>,
    /// Set when the resolver stops: no grant goes through after its last handover.
    closed: bool,
}

impl Ledger {
    pub fn new(limits: HoldLimits, maps: AllowlistMaps, statics: StaticNets) -> Ledger {
        Ledger {
            holdings: Holdings::new(limits),
            maps,
            statics,
            retired: HashMap::new(),
            retirements: 0,
            unclosed: HashSet::new(),
            closed: false,
        }
    }

    /// Opens what an answer grants. Returns once the kernel allows every address; on an
    /// error, the addresses not opened are not held either.
    pub fn grant(&mut self, grants: &[Grant], now: Instant) -> Result<()> {
        if self.closed {
            return Err(crate::Error::Invalid(
                "the resolver has stopped: nothing more is opened".into(),
            ));
        }
        for grant in grants {
            let addr = grant.addr;
            if self.statics.covers(addr) {
                continue;
            }
            // Into the kernel first: a hold is only ever recorded for an open address.
            if !self.holdings.is_held(addr) || self.retired.contains_key(&addr) {
                self.maps.set(AllowedNet::host(addr), listed::ALLOWED)?;
            }
            self.retired.remove(&addr);
            self.unclosed.remove(&addr);
            let granted = self.holdings.grant(&grant.name, addr, grant.ttl, now);
            for pushed_out in granted.closed {
                self.retire(pushed_out);
            }
        }
        Ok(())
    }

    /// Takes over what another resolver of the task held (`holds`, each for the time it has
    /// left, raised to the floor) and retired (`retired`): the addresses stay open, or
    /// retired, exactly as they were, and end on this ledger's schedule.
    pub fn take_over(
        &mut self,
        holds: &[HeldAddress],
        retired: &[IpAddr],
        now: Instant,
    ) -> Result<()> {
        let grants: Vec<Grant> = holds
            .iter()
            .map(|held| Grant {
                name: held.name.clone(),
                addr: held.addr,
                ttl: u32::try_from(held.left.as_secs()).unwrap_or(u32::MAX),
            })
            .collect();
        self.grant(&grants, now)?;
        for addr in retired {
            if !self.holdings.is_held(*addr) && !self.statics.covers(*addr) {
                self.retire(*addr);
            }
        }
        Ok(())
    }

    /// Every hold, with its time left at `now`.
    pub fn holds(&self, now: Instant) -> Vec<HeldAddress> {
        self.holdings.holds(now)
    }

    /// No grant goes through from now on, whatever a query still running asks: what this
    /// ledger holds is final, for a successor to take over.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Ends the holds due by `now`: their addresses are retired.
    pub fn expire(&mut self, now: Instant) {
        for addr in self.holdings.expire(now) {
            self.retire(addr);
        }
        for addr in std::mem::take(&mut self.unclosed) {
            self.retire(addr);
        }
    }

    /// Retired addresses, still waiting for their connections to end, with their retirement.
    pub fn retired(&self) -> Vec<(IpAddr, u64)> {
        self.retired.iter().map(|(addr, n)| (*addr, *n)).collect()
    }

    /// Removes the addresses of `checked` still in the same retirement and that no connection
    /// (`in_use`, read after they were all retired) needs any more. An address retired (again)
    /// since the read waits for the next one: a connection opened just before that retirement
    /// would not be in it.
    pub fn remove_unused(&mut self, checked: &[(IpAddr, u64)], in_use: &HashSet<IpAddr>) {
        let unused: Vec<IpAddr> = checked
            .iter()
            .filter(|(addr, n)| self.retired.get(addr) == Some(n) && !in_use.contains(addr))
            .map(|(addr, _)| *addr)
            .collect();
        for addr in unused {
            match self.maps.remove(AllowedNet::host(addr)) {
                Ok(()) => {
                    self.retired.remove(&addr);
                }
                Err(e) => tracing::warn!(%addr, error = %e, "removing a retired address; retried"),
            }
        }
    }

    /// Addresses held now.
    pub fn held_addresses(&self) -> usize {
        self.holdings.held_addresses()
    }

    /// Holds pushed out by a cap so far.
    pub fn evicted(&self) -> u64 {
        self.holdings.evicted()
    }

    /// New connects to `addr` are refused from now on; open ones keep going. Should the
    /// entry not take the new value, it is removed (cutting those connections: closed, not
    /// open); should that fail too, it is tried again on the next tick.
    fn retire(&mut self, addr: IpAddr) {
        let net = AllowedNet::host(addr);
        match self.maps.set(net, listed::RETIRED) {
            Ok(()) => {
                self.retirements += 1;
                self.retired.insert(addr, self.retirements);
            }
            Err(e) => {
                tracing::warn!(%addr, error = %e, "retiring an address; removing it instead");
                if self.maps.remove(net).is_err() {
                    self.unclosed.insert(addr);
                }
            }
        }
    }
}
