//! What the kernel enforces for a task's network spec, and the same in words: one place
//! for `run` (and the node agent to come) and `validate`.

use enforcer_common::Mode;

use crate::{
    enforcement::{AllowedNet, TaskPolicy},
    spec::{Domain, ResolvedNetwork},
};

/// The kernel policy for `network`. HTTP opens the spec's IP literals and CIDRs from the
/// start; its names open addresses only as the task's resolver hands them out.
pub fn for_network(network: &ResolvedNetwork, http_ports: &[u16]) -> TaskPolicy {
    match network {
        ResolvedNetwork::None => TaskPolicy::without_allowlist(Mode::None),
        ResolvedNetwork::Full => TaskPolicy::without_allowlist(Mode::Full),
        ResolvedNetwork::Http(domains) => TaskPolicy {
            mode: Mode::Http,
            http_ports: http_ports.to_vec(),
            allowed: static_networks(domains.iter()),
        },
    }
}

/// The IP literals and CIDRs among `domains`.
fn static_networks<'a>(domains: impl Iterator<Item = &'a Domain>) -> Vec<AllowedNet> {
    domains
        .filter_map(|domain| match *domain {
            Domain::Ip(addr) => Some(AllowedNet::host(addr.to_canonical())),
            Domain::Cidr { addr, prefix_len } => Some(AllowedNet { addr, prefix_len }),
            Domain::Exact(_) | Domain::Wildcard(_) => None,
        })
        .collect()
}

/// What the kernel will enforce, in words.
pub fn describe(network: &ResolvedNetwork, ports: &[u16]) -> String {
    match network {
        ResolvedNetwork::None => "enforced: None — no IP traffic out of the task (TCP, UDP, ICMP, \
             raw and packet sockets, IPv4 and IPv6, the node's loopback included)"
            .into(),
        ResolvedNetwork::Full => "enforced: Full — unrestricted egress (counted)".into(),
        ResolvedNetwork::Http(domains) => {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let listed: Vec<String> = domains.iter().map(|d| format!("  {d}")).collect();
            let dns = if domains.iter().any(|d| d.is_name()) {
                "every DNS query goes to the enforcer's resolver, which answers these names only"
            } else {
                "no DNS (no name to look up): the enforcer's resolver refuses every query"
            };
            format!(
                "enforced: HTTP — TCP to ports {} of the addresses the task's own lookups of \
                 these names return, for their TTL (IPs and CIDRs as given):\n{}\n{dns}; \
                 nothing else.",
                ports.join(", "),
                if listed.is_empty() {
                    "  (none)".to_string()
                } else {
                    listed.join("\n")
                }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::spec::DomainSet;

    fn http(domains: &[&str]) -> ResolvedNetwork {
        ResolvedNetwork::Http(DomainSet::parse(domains).unwrap())
    }

    #[test]
    fn http_opens_literals_and_cidrs_from_the_start_and_no_name() {
        let network = http(&[
            "files.example.com",
            ".cdn.example.com",
            "192.0.2.7",
            "::ffff:192.0.2.8",
            "10.9.0.0/16",
        ]);
        let policy = for_network(&network, &[80, 443]);
        assert_eq!(policy.mode, Mode::Http);
        assert_eq!(policy.http_ports, [80, 443]);
        let mut allowed = policy.allowed.clone();
        allowed.sort();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut expected = vec![
            AllowedNet::host(ip("192.0.2.7")),
            AllowedNet::host(ip("192.0.2.8")),
            AllowedNet {
                addr: ip("10.9.0.0"),
                prefix_len: 16,
            },
        ];
        expected.sort();
        assert_eq!(allowed, expected);
    }

    #[test]
    fn none_and_full_allow_no_list() {
        for (network, mode) in [
            (ResolvedNetwork::None, Mode::None),
            (ResolvedNetwork::Full, Mode::Full),
        ] {
            assert_eq!(
                for_network(&network, &[80]),
                TaskPolicy::without_allowlist(mode)
            );
        }
    }

    #[test]
    fn the_description_says_whether_the_resolver_answers_anything() {
        let with_names = describe(&http(&["files.example.com"]), &[80]);
        assert!(
            with_names.contains("answers these names only"),
            "{with_names}"
        );
        let without = describe(&http(&["192.0.2.7"]), &[80]);
        assert!(without.contains("no DNS"), "{without}");
    }
}
