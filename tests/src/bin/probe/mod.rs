//! The probe's subcommands, one module each, and what they share.

pub mod addr;
pub mod cgroup;
pub mod connect_loop;
pub mod deadline;
pub mod dns;
pub mod dns_frame;
pub mod outcome;
pub mod ping;
pub mod serve;
pub mod sockets;
pub mod tcp;
pub mod udp;
