//! HTTP mode, first cut: what the task's domains resolve to when it starts.

use std::{net::IpAddr, time::Duration};

use hickory_resolver::{
    config::{NameServerConfig, ResolverConfig, ResolverOpts},
    net::runtime::TokioRuntimeProvider,
    TokioResolver,
};

use crate::{
    enforcement::AllowedNet,
    error::{Error, Result},
    spec::{Domain, DomainSet},
};

/// The resolvers to use: the ones given, or the node's (`/etc/resolv.conf`).
pub fn upstream_servers(given: &[IpAddr]) -> Result<Vec<IpAddr>> {
    if !given.is_empty() {
        return Ok(given.iter().map(IpAddr::to_canonical).collect());
    }
    let (config, _) =
        hickory_resolver::system_conf::read_system_conf().map_err(|e| Error::Resolve {
            name: "/etc/resolv.conf".into(),
            message: e.to_string(),
        })?;
    let mut servers: Vec<IpAddr> = config
        .name_servers()
        .iter()
        .map(|ns| ns.ip.to_canonical())
        .collect();
    servers.sort();
    servers.dedup();
    Ok(servers)
}

/// One name and the addresses it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

/// Turns the task's domains into allowed networks: IP literals and CIDRs as they are,
/// names (and the apex of wildcards) through `upstream`. A name that doesn't resolve
/// allows nothing and is reported in the result with no addresses.
pub async fn allowed_networks(
    domains: &DomainSet,
    upstream: &[IpAddr],
) -> Result<(Vec<AllowedNet>, Vec<Resolution>)> {
    let resolver = resolver_for(upstream)?;
    let mut allowed = Vec::new();
    let mut resolutions = Vec::new();
    for domain in domains.iter() {
        match domain {
            Domain::Ip(addr) => allowed.push(AllowedNet::host(addr.to_canonical())),
            Domain::Cidr { addr, prefix_len } => allowed.push(AllowedNet {
                addr: *addr,
                prefix_len: *prefix_len,
            }),
            Domain::Exact(name) | Domain::Wildcard(name) => {
                let addresses = match resolver.lookup_ip(format!("{name}.")).await {
                    // The kernel judges ::ffff:a.b.c.d as a.b.c.d, so store it that way.
                    Ok(lookup) => lookup.iter().map(|a| a.to_canonical()).collect(),
                    Err(e) => {
                        tracing::warn!(domain = %name, error = %e, "domain did not resolve; it allows nothing");
                        Vec::new()
                    }
                };
                allowed.extend(addresses.iter().copied().map(AllowedNet::host));
                resolutions.push(Resolution {
                    name: name.clone(),
                    addresses,
                });
            }
        }
    }
    allowed.sort();
    allowed.dedup();
    Ok((allowed, resolutions))
}

fn resolver_for(upstream: &[IpAddr]) -> Result<TokioResolver> {
    let servers = upstream
        .iter()
        .copied()
        .map(NameServerConfig::udp_and_tcp)
        .collect();
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(2);
    options.attempts = 2;
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .map_err(|e| Error::Resolve {
        name: "resolver".into(),
        message: e.to_string(),
    })
}
