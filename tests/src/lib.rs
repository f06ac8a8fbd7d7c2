//! The enforcer's test lab: real network namespaces, veth pairs and servers
//! that integration tests point enforced tasks at.
//!
//! The crate has two halves that share the wire formats defined here:
//! - the `enforcer-probe` binary (servers for the lab, and the client that runs
//!   inside enforced tasks and reports one JSON line per attempt);
//! - this library, which builds labs ([`Lab`], [`HostService`]), runs the probe
//!   ([`run_probe`]) and reads what the lab servers saw ([`Received`]).
//!
//! Everything the lab creates is removed on drop, also when a test panics.

pub mod agent;
mod binaries;
mod connect_loop;
pub mod container;
pub mod expect;
mod host_service;
mod ip;
mod lab;
mod output;
mod privilege;
mod ready;
mod received;
mod run;
pub mod scoped;
mod scratch;
mod server;
pub mod task;
mod zone_spec;

pub use binaries::{enforcer_bin, probe_bin};
pub use connect_loop::connect_loop;
pub use host_service::HostService;
pub use lab::{cleanup_stale_labs, Lab};
pub use output::{Attempt, ProbeResult};
pub use privilege::kernel_lab_available;
pub use ready::Ready;
pub use received::{DnsTransport, Received};
pub use run::{run_probe, run_probe_in_netns};
pub use zone_spec::{ForeignRecord, HttpsSpec, NameSpec, RecordSpec, ZoneSpec};

/// The preamble of every kernel test that needs a lab: `None` (the test returns) where the
/// kernel side can't be used outside CI, a started lab otherwise.
///
/// # Panics
/// When the lab can't be built, or the kernel side is missing under `CI=true`.
pub fn lab_or_skip() -> Option<Lab> {
    kernel_lab_available().then(|| Lab::start().expect("starting the lab"))
}
