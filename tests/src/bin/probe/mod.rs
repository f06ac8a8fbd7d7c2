//! The probe's subcommands, one module each, and what they share.

pub mod addr;
pub mod bind;
pub mod cgroup;
pub mod connect_loop;
pub mod deadline;
pub mod dns;
pub mod dns_frame;
pub mod fetch;
pub mod flood;
pub mod i386;
pub mod keyring;
pub mod mark;
pub mod multicast;
pub mod outcome;
pub mod pidfd;
pub mod ping;
pub mod serve;
pub mod socket_family;
pub mod sockets;
pub mod sysv;
pub mod tcp;
pub mod terminal;
pub mod udp;
pub mod unix;
pub mod uring;
pub mod userns;
