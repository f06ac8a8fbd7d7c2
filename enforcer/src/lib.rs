//! The enforcer: keeps a compute task's declared network promise (None, Full, or HTTP to
//! listed domains) in the Linux kernel, with cgroup eBPF programs attached to the task's
//! cgroup. `enforcer run` and (later) the node daemon share this library.
//!
//! Requires cgroup v2, BTF, and a kernel whose cgroup_skb programs may call
//! `bpf_get_netns_cookie` (2025; tested on 6.18); on older kernels loading fails closed.

pub mod admission;
pub mod agent;
pub mod allowlist;
pub mod bpffs;
pub mod cgroup;
pub mod dns;
pub mod enforcement;
pub mod error;
pub mod events;
pub mod gc;
pub mod mounts;
pub mod netns_lock;
pub mod node;
pub mod oci;
pub mod paths;
pub mod policy;
pub mod pump;
pub mod resolve;
pub mod resolver;
pub mod run;
pub mod sandbox;
pub mod spec;
pub mod state;
pub mod task;

pub use error::{Error, Result};
