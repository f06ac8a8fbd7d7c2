//! What steering a task's DNS through its enforcer resolver costs: the lab's DNS server
//! and names, the client roles, the task resolvers, the measurements and their report.

pub mod client;
pub mod first_connect;
pub mod measure;
pub mod report;
pub mod resolvers;
pub mod server;
pub mod zone;
