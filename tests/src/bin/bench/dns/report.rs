//! The DNS report: query latency straight to the lab's server and through a task
//! resolver, what the resolver adds, how long it takes to enforce an answer, how the
//! first connects after a lookup went, and the goals.

use std::time::Duration;

use enforcer::resolver::ResolverReport;

use super::{
    client::{DnsSample, Names},
    measure::{enforced, DnsResults, DnsSettings},
};
use crate::bench::{conditions::Condition, lab::DNS_SERVER, summary::Summary};

impl Names {
    fn title(self) -> &'static str {
        match self {
            Names::One => "one name",
            Names::New => "new names",
        }
    }
}

/// Median and range over repetitions of one field of the samples.
fn stats(samples: &[DnsSample], field: fn(&DnsSample) -> f64) -> Summary {
    Summary::of(samples.iter().map(field).collect())
}

/// Each repetition's `field` through the resolver less the same repetition's direct one.
fn added(results: &DnsResults, names: Names, field: fn(&DnsSample) -> f64) -> Summary {
    let direct = results.samples(names, Condition::DnsDirect);
    let steered = results.samples(names, enforced(names));
    Summary::of(
        steered
            .iter()
            .zip(direct)
            .map(|(s, d)| field(s) - field(d))
            .collect(),
    )
}

const P50: fn(&DnsSample) -> f64 = |s| s.p50_us;
const P99: fn(&DnsSample) -> f64 = |s| s.p99_us;

pub fn print_table(results: &DnsResults, settings: &DnsSettings) {
    println!(
        "DNS: {} sequential A queries per measurement from one connected UDP socket to \
         {DNS_SERVER}; through a task resolver (dns-enforced*) or not (dns-direct)",
        settings.queries
    );
    println!(
        "{:<10} {:<17} {:>9} {:>9} {:>10} {:>7}",
        "queries", "condition", "p50 us", "p99 us", "queries/s", "failed"
    );
    for names in Names::ALL {
        for (i, condition) in [Condition::DnsDirect, enforced(names)]
            .into_iter()
            .enumerate()
        {
            let samples = results.samples(names, condition);
            let failed: u64 = samples.iter().map(|s| s.failed).sum();
            println!(
                "{:<10} {:<17} {:>9.1} {:>9.1} {:>10.0} {:>7}",
                if i == 0 { names.title() } else { "" },
                condition.name(),
                stats(samples, P50).median,
                stats(samples, P99).median,
                stats(samples, |s| s.per_second).median,
                failed,
            );
        }
        let (p50, p99) = (added(results, names, P50), added(results, names, P99));
        println!(
            "{:<10} {:<17} {:>+9.1} {:>+9.1}   p50 {:+.1}..{:+.1}, p99 {:+.1}..{:+.1} us by \
             repetition",
            "", "added, paired", p50.median, p99.median, p50.min, p50.max, p99.min, p99.max,
        );
    }
    println!(
        "medians over repetitions of each measurement's p50 and p99; added, paired: of the \
         difference from the same repetition's dns-direct"
    );
}

/// What each resolver did, with its enforce latency: from the upstream's answer to its
/// addresses being in the kernel's allowlist.
pub fn print_resolvers(reports: &[(Condition, ResolverReport)]) {
    println!(
        "task resolvers; enforce = upstream answer to address in the kernel map (upper bounds \
         of power-of-two buckets, over the whole run)"
    );
    let us = |d: Option<Duration>| d.map_or("-".into(), |d| format!("<= {} us", d.as_micros()));
    for (condition, report) in reports {
        println!(
            "  {:<17} enforce p50 {:<9} p99 {:<9} answered={} refused={} rate_limited={} \
             upstream_failures={} held_addresses={}",
            condition.name(),
            us(report.enforce_p50),
            us(report.enforce_p99),
            report.answered,
            report.refused,
            report.rate_limited,
            report.upstream_failures,
            report.held_addresses,
        );
    }
}

/// Lookups of new names, each followed at once by a TCP connect to the answer.
pub fn print_first_connects(results: &DnsResults) {
    let (attempts, lookups_failed, connects_failed) = first_connect_totals(results);
    println!(
        "first connect right after a lookup ({}, a new name each): {attempts} lookups, \
         {lookups_failed} failed; {} connects, {connects_failed} failed",
        Condition::DnsEnforcedNew.name(),
        attempts - lookups_failed,
    );
    let first_failure = results
        .first_connects
        .iter()
        .find_map(|c| c.first_failure.as_ref());
    if let Some(failure) = first_failure {
        println!("  first failure: {failure}");
    }
}

fn first_connect_totals(results: &DnsResults) -> (u32, u32, u32) {
    results.first_connects.iter().fold((0, 0, 0), |sum, c| {
        (
            sum.0 + c.attempts,
            sum.1 + c.lookups_failed,
            sum.2 + c.connects_failed,
        )
    })
}

/// The project's goals for DNS in HTTP mode; each line says PASS or MISS.
pub fn print_goals(results: &DnsResults) {
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "goals, DNS through the task resolver vs straight to the lab's server (added: median \
         over repetitions of the paired difference)"
    );
    for (title, field, limit_us) in [("p99", P99, 2000.0), ("p50", P50, 200.0)] {
        let by_names = Names::ALL.map(|names| added(results, names, field).median);
        println!(
            "  {}  {title} added <= {:.1} ms       {}",
            verdict(by_names.iter().all(|&us| us <= limit_us)),
            limit_us / 1000.0,
            Names::ALL
                .iter()
                .zip(by_names)
                .map(|(names, us)| format!("{} {:+.3} ms", names.title(), us / 1000.0))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let (attempts, lookups_failed, connects_failed) = first_connect_totals(results);
    let failures = lookups_failed + connects_failed;
    println!(
        "  {}  first connect after a lookup never fails   {failures} of {attempts} failed",
        verdict(failures == 0),
    );
}
