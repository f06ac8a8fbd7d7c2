//! Assertions shared by the kernel tests: what a refusal and a leak look like.

use std::net::IpAddr;

use crate::{task::TaskOutcome, Lab, Received};

/// Refused by a socket hook: EPERM within a second (not a timeout), task exit non-zero.
pub fn refused_at_once(outcome: &TaskOutcome) {
    let result = outcome.probe();
    assert!(
        result.is_eperm() && result.elapsed_ms < 1000,
        "expected an immediate EPERM, got {result:?}\nstderr:\n{}",
        outcome.stderr
    );
    assert_ne!(outcome.exit_code, Some(0), "a refused probe must fail");
}

/// The task's probe succeeded.
pub fn allowed(outcome: &TaskOutcome) {
    let result = outcome.probe();
    assert!(
        result.ok,
        "expected success, got {result:?}\nstderr:\n{}",
        outcome.stderr
    );
    assert_eq!(outcome.exit_code, Some(0));
}

/// TCP connections the lab accepted on `addr`:`port` so far.
pub fn tcp_hits(lab: &Lab, addr: IpAddr, port: u16) -> usize {
    lab.received()
        .iter()
        .filter(
            |r| matches!(r, Received::Tcp { local, port: p, .. } if *local == addr && *p == port),
        )
        .count()
}

/// UDP datagrams the lab received on `port` so far (any address).
pub fn udp_hits(lab: &Lab, port: u16) -> usize {
    lab.received()
        .iter()
        .filter(|r| matches!(r, Received::Udp { port: p, .. } if *p == port))
        .count()
}

/// `addr:port` as the enforcer logs destinations (`[v6]:port`).
pub fn destination(addr: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(addr, port).to_string()
}

/// Lab host `n` in both families: `[IPv4, IPv6]`.
pub fn both_families(lab: &Lab, n: usize) -> [IpAddr; 2] {
    [IpAddr::V4(lab.host(n)), IpAddr::V6(lab.host6(n))]
}
