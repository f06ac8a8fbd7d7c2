//! The enforcer: keeps a compute task's declared network promise (None, Full, or HTTP to
//! listed domains) in the Linux kernel, with cgroup eBPF programs attached to the task's
//! cgroup. `enforcer run` and (later) the node daemon share this library.
//!
//! Requires Linux 5.14+ (bpf_link cgroup attachments, SO_NETNS_COOKIE, cgroup.kill)
//! with cgroup v2 and BTF; tested on 6.18.

pub mod bpffs;
pub mod cgroup;
pub mod enforcement;
pub mod error;
pub mod events;
pub mod gc;
pub mod node;
pub mod paths;
pub mod resolve;
pub mod run;
pub mod sandbox;
pub mod spec;
pub mod state;

pub use error::{Error, Result};
