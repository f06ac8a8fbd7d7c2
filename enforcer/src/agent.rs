//! The node agent (`enforcer daemon`): one long-lived process that enforces the cgroups of
//! the tasks a node runs, told which through its API.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod daemon;
#[cfg(test)]
mod fake;
pub mod http;
pub mod metrics;
pub mod store;
pub mod target;
