//! The node agent (`enforcer daemon`): one long-lived process that enforces the cgroups of
//! the tasks a node runs, told which through its API.

pub mod api;
