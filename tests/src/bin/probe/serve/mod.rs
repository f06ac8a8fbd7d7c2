//! `serve`: the lab's servers, one thread per socket, running until killed.

mod bind;
mod dns;
mod echo;
mod http;
mod log;
mod zone;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use enforcer_tests::{Ready, ZoneSpec};

use self::log::EventLog;
use self::zone::Zone;
use crate::ServeArgs;

/// Binds every socket, starts its thread, writes the ready file, then waits
/// forever (the servers stop when the process is killed).
pub fn run(args: &ServeArgs) -> Result<()> {
    let log = EventLog::open(&args.log)?;
    let zone = Arc::new(Zone::new(&read_zone(args.zone.as_deref())?)?);
    let binds = if args.binds.is_empty() {
        vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
    } else {
        args.binds.clone()
    };
    let mut ready = Ready::default();
    for ip in binds {
        for &port in &args.tcp_ports {
            let listener = bind::tcp(SocketAddr::new(ip, port))?;
            ready.tcp.push(listener.local_addr()?);
            let log = log.clone();
            std::thread::spawn(move || http::serve(listener, log));
        }
        for &port in &args.udp_ports {
            let socket = bind::udp(SocketAddr::new(ip, port))?;
            ready.udp.push(socket.local_addr()?);
            let log = log.clone();
            std::thread::spawn(move || echo::serve(socket, log));
        }
        if let Some(port) = args.dns_port {
            let socket = bind::udp(SocketAddr::new(ip, port))?;
            // TCP on the port UDP got, should that be the kernel's pick.
            let addr = socket.local_addr()?;
            let listener = bind::tcp(addr)?;
            ready.dns.push(addr);
            let (log_udp, zone_udp) = (log.clone(), zone.clone());
            std::thread::spawn(move || dns::serve_udp(socket, &zone_udp, &log_udp));
            let (log, zone) = (log.clone(), zone.clone());
            std::thread::spawn(move || dns::serve_tcp(listener, zone, log));
        }
    }
    write_ready(&args.ready, &ready)?;
    loop {
        std::thread::park();
    }
}

/// The zone in `path`; without one, every name is unknown.
fn read_zone(path: Option<&Path>) -> Result<ZoneSpec> {
    let Some(path) = path else {
        return Ok(ZoneSpec::default());
    };
    let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parse {}", path.display()))
}

/// Writes beside the target and renames, so readers never see half a file.
fn write_ready(path: &Path, ready: &Ready) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, serde_json::to_vec(ready)?)
        .with_context(|| format!("write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("rename to {}", path.display()))
}
