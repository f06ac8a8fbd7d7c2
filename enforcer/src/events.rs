//! Denial events: decoded from the task's ring buffer and logged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aya::maps::{MapData, RingBuf};
use enforcer_common::{proto, DenyEvent, Hook, Reason};
use serde::Serialize;
use tokio::sync::watch;

/// One refusal, as users read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub hook: &'static str,
    pub reason: &'static str,
    pub protocol: String,
    /// Destination; `None` for a socket refused at creation.
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
    /// Process id and command; `None` for packets sent outside the sender's context.
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

impl Denial {
    /// Decodes one ring-buffer record; `None` for a record of the wrong size or kind.
    pub fn decode(bytes: &[u8]) -> Option<Denial> {
        if bytes.len() < std::mem::size_of::<DenyEvent>() {
            return None;
        }
        // SAFETY: size checked; DenyEvent is plain old data, read unaligned.
        let event: DenyEvent = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
        let hook = Hook::from_raw(event.hook)?.as_str();
        let reason = Reason::from_raw(event.reason)?.as_str();
        let addr = match event.family {
            4 => {
                let [a, b, c, d, ..] = event.addr;
                Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
            }
            6 => Some(IpAddr::V6(Ipv6Addr::from(event.addr))),
            _ => None,
        };
        let comm_len = event.comm.iter().position(|b| *b == 0).unwrap_or(16);
        let comm = String::from_utf8_lossy(&event.comm[..comm_len]).into_owned();
        Some(Denial {
            hook,
            reason,
            protocol: protocol_name(event.protocol),
            addr: if hook == Hook::SockCreate.as_str() {
                None
            } else {
                addr
            },
            port: (event.port != 0).then_some(event.port),
            pid: (event.pid != 0).then_some(event.pid),
            comm: (!comm.is_empty()).then_some(comm),
        })
    }

    /// `addr:port`, `[addr]:port`, `addr` or `-`.
    pub fn destination(&self) -> String {
        match (self.addr, self.port) {
            (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
            (Some(a), Some(p)) => format!("{a}:{p}"),
            (Some(a), None) => a.to_string(),
            (None, _) => "-".into(),
        }
    }
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMP => "icmp".into(),
        proto::ICMPV6 => "icmpv6".into(),
        proto::RAW => "raw".into(),
        other => format!("ip-proto-{other}"),
    }
}

/// Logs every denial of `task` until `stop` turns true, then drains what is left.
pub async fn log_denials(
    ring: RingBuf<MapData>,
    task: String,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    crate::pump::drain_until_stopped(ring, stop, |ring| drain(ring, &task)).await
}

fn drain(ring: &mut RingBuf<MapData>, task: &str) {
    while let Some(item) = ring.next() {
        if let Some(denial) = Denial::decode(&item) {
            log_denial(task, &denial);
        }
    }
}

fn log_denial(task: &str, d: &Denial) {
    tracing::warn!(
        target: "enforcer::denial",
        task,
        hook = d.hook,
        reason = d.reason,
        protocol = %d.protocol,
        destination = %d.destination(),
        pid = d.pid,
        comm = d.comm.as_deref(),
        "refused"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(event: &DenyEvent) -> Vec<u8> {
        // SAFETY: DenyEvent is plain old data.
        unsafe {
            std::slice::from_raw_parts(
                (event as *const DenyEvent).cast::<u8>(),
                size_of::<DenyEvent>(),
            )
        }
        .to_vec()
    }

    #[test]
    fn decodes_a_connect_refusal() {
        let mut addr = [0; 16];
        addr[..4].copy_from_slice(&[10, 1, 2, 3]);
        let mut comm = [0; 16];
        comm[..4].copy_from_slice(b"curl");
        let event = DenyEvent {
            addr,
            pid: 42,
            port: 8080,
            hook: Hook::Connect4 as u8,
            reason: Reason::PortNotAllowed as u8,
            family: 4,
            protocol: proto::TCP,
            _pad: [0; 2],
            comm,
        };
        let denial = Denial::decode(&raw(&event)).unwrap();
        assert_eq!(denial.destination(), "10.1.2.3:8080");
        assert_eq!(denial.reason, "port-not-allowed");
        assert_eq!(denial.comm.as_deref(), Some("curl"));
        assert_eq!(denial.pid, Some(42));
    }

    #[test]
    fn rejects_short_or_unknown_records() {
        assert_eq!(Denial::decode(&[0; 4]), None);
        assert_eq!(Denial::decode(&[0; size_of::<DenyEvent>()]), None);
    }
}
