//! Who holds each looked-up address open, and until when.
//!
//! A name's answer holds each of its addresses for the record's TTL, raised to a floor. An
//! address is open while any name holds it; several names (or repeated answers) may hold the
//! same address, and it closes only when the last hold ends. Holds are capped per name and per
//! task, oldest out, so no task grows its allowlist without bound.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
    time::{Duration, Instant},
};

/// Bounds on holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldLimits {
    /// No address is held for less, whatever the record's TTL (`--dns-min-ttl`).
    pub min_ttl: Duration,
    /// Nor for more.
    pub max_ttl: Duration,
    /// Addresses one name may hold at once.
    pub per_name: usize,
    /// (name, address) holds of the whole task.
    pub per_task: usize,
}

/// What a grant changed for the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    /// The address was held by nobody before: it must be opened.
    pub opened: bool,
    /// Addresses whose last hold was pushed out by a cap: they must be closed.
    pub closed: Vec<IpAddr>,
}

/// One hold as handed from a resolver to the one that takes over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldAddress {
    pub name: String,
    pub addr: IpAddr,
    /// Time left of the hold.
    pub left: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Hold {
    expires: Instant,
    /// Grant order: the smallest is the oldest.
    seq: u64,
}

type Key = (String, IpAddr);

/// The holds of one task.
#[derive(Debug)]
pub struct Holdings {
    limits: HoldLimits,
    holds: HashMap<Key, Hold>,
    /// Holders of each address.
    holders: HashMap<IpAddr, usize>,
    /// Each name's holds by age.
    by_name: HashMap<String, BTreeSet<(u64, IpAddr)>>,
    by_age: BTreeSet<(u64, String, IpAddr)>,
    by_expiry: BTreeSet<(Instant, u64, String, IpAddr)>,
    next_seq: u64,
    /// Holds pushed out by a cap before their time.
    evicted: u64,
}

impl Holdings {
    pub fn new(limits: HoldLimits) -> Holdings {
        Holdings {
            limits,
            holds: HashMap::new(),
            holders: HashMap::new(),
            by_name: HashMap::new(),
            by_age: BTreeSet::new(),
            by_expiry: BTreeSet::new(),
            next_seq: 0,
            evicted: 0,
        }
    }

    /// `name` answered `addr` with `ttl` seconds at `now`: hold it until the later of its
    /// TTL and the floor (within the ceiling). A repeated grant renews the hold.
    pub fn grant(&mut self, name: &str, addr: IpAddr, ttl: u32, now: Instant) -> Granted {
        let ttl = crate::dns::effective_ttl(ttl);
        let lifetime =
            Duration::from_secs(ttl.into()).clamp(self.limits.min_ttl, self.limits.max_ttl);
        let key = (name.to_string(), addr);
        let mut granted = Granted::default();
        if let Some(old) = self.holds.get(&key).copied() {
            self.unindex(&key, old);
        } else {
            let holders = self.holders.entry(addr).or_insert(0);
            granted.opened = *holders == 0;
            *holders += 1;
        }
        let hold = Hold {
            expires: now + lifetime,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.index(&key, hold);
        self.holds.insert(key, hold);
        granted.closed = self.enforce_caps(name);
        granted
    }

    /// Ends every hold due by `now`; returns the addresses no one holds any more.
    pub fn expire(&mut self, now: Instant) -> Vec<IpAddr> {
        let mut closed = Vec::new();
        while let Some((expires, _, name, addr)) = self.by_expiry.first().cloned() {
            if expires > now {
                break;
            }
            closed.extend(self.release(&(name, addr)));
        }
        closed
    }

    /// When the next hold ends.
    #[cfg(test)]
    fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.first().map(|(expires, ..)| *expires)
    }

    /// Every hold with the time it has left at `now`, oldest first: what a resolver that
    /// takes over the task starts from.
    pub fn holds(&self, now: Instant) -> Vec<HeldAddress> {
        self.by_age
            .iter()
            .filter_map(|(_, name, addr)| {
                let hold = self.holds.get(&(name.clone(), *addr))?;
                Some(HeldAddress {
                    name: name.clone(),
                    addr: *addr,
                    left: hold.expires.saturating_duration_since(now),
                })
            })
            .collect()
    }

    /// Whether some name holds `addr`.
    pub fn is_held(&self, addr: IpAddr) -> bool {
        self.holders.contains_key(&addr)
    }

    /// Addresses held now.
    pub fn held_addresses(&self) -> usize {
        self.holders.len()
    }

    /// Holds pushed out by a cap so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Oldest holds out until `name` and the task are within their caps.
    fn enforce_caps(&mut self, name: &str) -> Vec<IpAddr> {
        let mut closed = Vec::new();
        while self.by_name.get(name).map_or(0, BTreeSet::len) > self.limits.per_name {
            let Some(&(_, addr)) = self.by_name.get(name).and_then(BTreeSet::first) else {
                break;
            };
            self.evicted += 1;
            closed.extend(self.release(&(name.to_string(), addr)));
        }
        while self.holds.len() > self.limits.per_task {
            let Some((_, name, addr)) = self.by_age.first().cloned() else {
                break;
            };
            self.evicted += 1;
            closed.extend(self.release(&(name, addr)));
        }
        closed
    }

    /// Ends one hold; the address if that was its last holder.
    fn release(&mut self, key: &Key) -> Option<IpAddr> {
        let hold = self.holds.remove(key)?;
        self.unindex(key, hold);
        let holders = self.holders.get_mut(&key.1)?;
        *holders -= 1;
        if *holders > 0 {
            return None;
        }
        self.holders.remove(&key.1);
        Some(key.1)
    }

    fn index(&mut self, (name, addr): &Key, hold: Hold) {
        self.by_name
            .entry(name.clone())
            .or_default()
            .insert((hold.seq, *addr));
        self.by_age.insert((hold.seq, name.clone(), *addr));
        self.by_expiry
            .insert((hold.expires, hold.seq, name.clone(), *addr));
    }

    fn unindex(&mut self, (name, addr): &Key, hold: Hold) {
        if let Some(ages) = self.by_name.get_mut(name) {
            ages.remove(&(hold.seq, *addr));
            if ages.is_empty() {
                self.by_name.remove(name);
            }
        }
        self.by_age.remove(&(hold.seq, name.clone(), *addr));
        self.by_expiry
            .remove(&(hold.expires, hold.seq, name.clone(), *addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_handed_over_with_the_time_they_have_left() {
        let mut holdings = Holdings::new(LIMITS);
        let start = Instant::now();
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        holdings.grant("a.example", addr, 300, start);
        let later = start + Duration::from_secs(100);
        assert_eq!(
            holdings.holds(later),
            vec![HeldAddress {
                name: "a.example".into(),
                addr,
                left: Duration::from_secs(200),
            }]
        );
    }

    const LIMITS: HoldLimits = HoldLimits {
        min_ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(3600),
        per_name: 3,
        per_task: 5,
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn an_address_is_held_for_its_ttl_raised_to_the_floor() {
        let now = Instant::now();
        let mut h = Holdings::new(LIMITS);
        assert!(h.grant("a.test", ip(1), 5, now).opened);
        assert!(h.expire(now + Duration::from_secs(59)).is_empty());
        assert_eq!(h.expire(now + Duration::from_secs(60)), vec![ip(1)]);
        assert!(!h.is_held(ip(1)));
        assert!(h.grant("a.test", ip(2), 300, now).opened);
        assert!(h.expire(now + Duration::from_secs(299)).is_empty());
        assert_eq!(h.expire(now + Duration::from_secs(300)), vec![ip(2)]);
        assert!(h.grant("a.test", ip(3), (1 << 31) - 1, now).opened);
        assert_eq!(h.next_expiry(), Some(now + LIMITS.max_ttl));
        h.expire(now + LIMITS.max_ttl);
        assert!(h.grant("a.test", ip(4), u32::MAX, now).opened);
        assert_eq!(
            h.next_expiry(),
            Some(now + LIMITS.min_ttl),
            "top bit set: zero"
        );
    }

    #[test]
    fn an_address_closes_only_when_its_last_holder_ends() {
        let now = Instant::now();
        let mut h = Holdings::new(LIMITS);
        assert!(h.grant("a.test", ip(1), 60, now).opened);
        assert!(!h.grant("b.test", ip(1), 120, now).opened);
        assert!(h.expire(now + Duration::from_secs(60)).is_empty());
        assert!(h.is_held(ip(1)));
        assert_eq!(h.expire(now + Duration::from_secs(120)), vec![ip(1)]);
    }

    #[test]
    fn a_repeated_answer_renews_the_hold() {
        let now = Instant::now();
        let mut h = Holdings::new(LIMITS);
        h.grant("a.test", ip(1), 60, now);
        let later = now + Duration::from_secs(50);
        assert!(!h.grant("a.test", ip(1), 60, later).opened);
        assert!(h.expire(now + Duration::from_secs(60)).is_empty());
        assert_eq!(h.expire(later + Duration::from_secs(60)), vec![ip(1)]);
        assert_eq!(h.held_addresses(), 0);
    }

    #[test]
    fn a_rotating_name_keeps_its_newest_addresses_within_its_cap() {
        let now = Instant::now();
        let mut h = Holdings::new(LIMITS);
        for last in 1..=3 {
            assert!(h.grant("cdn.test", ip(last), 60, now).closed.is_empty());
        }
        let granted = h.grant("cdn.test", ip(4), 60, now);
        assert_eq!(granted.closed, vec![ip(1)], "oldest out");
        assert_eq!(h.evicted(), 1);
        // Renewing moves an address to the back of the line.
        h.grant("cdn.test", ip(2), 60, now);
        assert_eq!(h.grant("cdn.test", ip(5), 60, now).closed, vec![ip(3)]);
        assert!(h.is_held(ip(2)));
    }

    #[test]
    fn the_task_cap_pushes_out_the_oldest_hold_of_any_name() {
        let now = Instant::now();
        let mut h = Holdings::new(LIMITS);
        for (i, name) in ["a.test", "b.test", "c.test", "d.test", "e.test"]
            .iter()
            .enumerate()
        {
            h.grant(name, ip(i as u8), 60, now);
        }
        // A second holder keeps an evicted hold's address open.
        h.grant("f.test", ip(1), 60, now);
        assert_eq!(h.held_addresses(), 4, "a.test's address went");
        let granted = h.grant("g.test", ip(9), 60, now);
        assert!(granted.closed.is_empty(), "ip(1) is still held by f.test");
        assert!(h.is_held(ip(1)));
        assert_eq!(h.evicted(), 2);
    }
}
