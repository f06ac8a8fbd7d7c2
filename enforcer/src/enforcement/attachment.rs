//! One task's enforcement on a [`super::ProgramSet`]: its pinned links to its cgroup and its
//! entries in the shared allowlist maps.

use std::{
    io,
    net::IpAddr,
    path::{Path, PathBuf},
};

use enforcer_common::policy::listed;

use super::{AllowedNet, TaskPolicy, ALL_PROGRAMS};
use crate::{
    allowlist::AllowlistMaps,
    error::{Error, Result},
};

/// A task attached to its cgroup.
pub struct TaskAttachment {
    task: u32,
    cgroup_id: u64,
    allowlist: AllowlistMaps,
    /// The node's own addresses: marked in the allowlist, never allowed.
    node_addresses: Vec<IpAddr>,
    /// Where the links are pinned: the pins alone keep them attached.
    link_dir: PathBuf,
}

impl TaskAttachment {
    /// A task whose links are (or will be) pinned in `link_dir`. Also how a task attached
    /// by an earlier process is taken over: its links stay pinned where they are.
    pub fn new(
        task: u32,
        cgroup_id: u64,
        allowlist: AllowlistMaps,
        node_addresses: Vec<IpAddr>,
        link_dir: &Path,
    ) -> TaskAttachment {
        TaskAttachment {
            task,
            cgroup_id,
            allowlist,
            node_addresses,
            link_dir: link_dir.to_path_buf(),
        }
    }

    /// The task's number in the shared maps.
    pub fn task(&self) -> u32 {
        self.task
    }

    /// The id of the cgroup the programs are attached to.
    pub fn cgroup_id(&self) -> u64 {
        self.cgroup_id
    }

    /// Puts the node's addresses and `policy`'s allowed networks on the task's list.
    pub fn fill(&mut self, policy: &TaskPolicy) -> Result<()> {
        // Node addresses first, as single addresses, which win over any allowed CIDR.
        for addr in &self.node_addresses {
            self.allowlist.set(AllowedNet::host(*addr), listed::NODE)?;
        }
        for net in &policy.allowed {
            if self.is_node_address(net) {
                tracing::warn!(%net, "an address of this node is never allowed");
                continue;
            }
            self.allow(*net)?;
        }
        Ok(())
    }

    fn is_node_address(&self, net: &AllowedNet) -> bool {
        net.is_host() && self.node_addresses.contains(&net.addr)
    }

    /// Allows `net` from now on (HTTP mode); atomic for the task's sockets.
    pub fn allow(&mut self, net: AllowedNet) -> Result<()> {
        if self.is_node_address(&net) {
            return Err(Error::Invalid(format!("{net} is an address of this node")));
        }
        self.allowlist.set(net, listed::ALLOWED)
    }

    /// Stops allowing `net`; new connections to it, and packets of open ones, are refused
    /// from now on.
    pub fn disallow(&mut self, net: AllowedNet) -> Result<()> {
        if self.is_node_address(&net) {
            return Ok(());
        }
        self.allowlist.remove(net)
    }

    /// Detaches the programs (removing the link pins, the last hold on each link) and takes
    /// the task's entries off the shared maps. Call only once nothing of the task may stay
    /// enforced.
    pub fn detach(mut self) -> Result<()> {
        for name in ALL_PROGRAMS {
            let path = self.link_dir.join(name);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::io("unpinning link", path)(e))
                }
                _ => {}
            }
        }
        self.allowlist.clear()
    }
}
