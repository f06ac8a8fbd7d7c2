//! The node's resolvers: where HTTP mode's resolver looks allowed names up.

use std::net::IpAddr;

use crate::error::{Error, Result};

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
    if servers.is_empty() {
        return Err(Error::Resolve {
            name: "/etc/resolv.conf".into(),
            message: "no nameserver listed; give --upstream".into(),
        });
    }
    Ok(servers)
}
