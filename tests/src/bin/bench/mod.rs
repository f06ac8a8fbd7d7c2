//! The benchmark's parts: the lab and its server, the task cgroups under each condition,
//! the client that measures, the programs' kernel time, the DNS measurements, the node
//! agent's measurements, and the report.

pub mod agent;
pub mod child;
pub mod client;
pub mod conditions;
pub mod cpu;
pub mod dns;
pub mod interrupt;
pub mod kernel_time;
pub mod lab;
pub mod report;
pub mod run;
pub mod server;
pub mod summary;
