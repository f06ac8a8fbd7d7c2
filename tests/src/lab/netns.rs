//! The lab's network namespace and the veth pair linking it to the host.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Result};

use super::addressing::{
    host_link, index_of_slot, lab_link, mac, netns_name, v4, v6, GATEWAY, HOSTS, MAX_LABS,
    NETNS_DIR,
};
use crate::ip::{ip, ip_batch};

/// Network namespace `enf-lab-<i>`, deleted (with its veth pair) on drop.
#[derive(Debug)]
pub(crate) struct LabNetns {
    index: u8,
    name: String,
}

impl LabNetns {
    /// Creates the namespace with a free index. `ip netns add` fails when the
    /// name exists, which makes it a lock between concurrent tests.
    ///
    /// Successive labs of a process start their search at successive indices
    /// (from a pid-dependent place), so a dropped lab's index is not taken
    /// again at once: a later look at that name does not find someone else's lab.
    pub(crate) fn acquire() -> Result<LabNetns> {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let start = CALLS.fetch_add(1, Ordering::Relaxed) + std::process::id() as usize;
        for slot in start..start + MAX_LABS {
            let index = index_of_slot(slot);
            let name = netns_name(index);
            match ip(&["netns", "add", &name]) {
                Ok(_) => return Ok(LabNetns { index, name }),
                // Taken (perhaps freed again since): try the next one. Any
                // other failure would only repeat.
                Err(e) if is_taken(&name, &e) => continue,
                Err(e) => return Err(e),
            }
        }
        bail!("all {MAX_LABS} lab indices are taken (stale labs? see cleanup_stale_labs)")
    }

    /// Takes over an existing namespace, to delete it on drop.
    pub(crate) fn adopt(index: u8) -> LabNetns {
        LabNetns {
            index,
            name: netns_name(index),
        }
    }

    /// The lab index.
    pub(crate) fn index(&self) -> u8 {
        self.index
    }

    /// The namespace name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Creates the veth pair and sets up both sides' addresses, neighbours and
    /// links.
    pub(crate) fn configure(&self) -> Result<()> {
        let i = self.index;
        let (host, lab) = (host_link(i), lab_link(i));
        let (host_mac, lab_mac) = (mac(i, GATEWAY), mac(i, HOSTS[0]));
        // A host-side link of that name can only be left over by a crashed
        // lab, since we hold the index.
        let _ = ip(&["link", "del", &host]);
        let mut on_host = vec![
            format!(
                "link add {host} address {host_mac} type veth \
                 peer name {lab} address {lab_mac} netns {}",
                self.name
            ),
            format!("addr add {}/24 dev {host}", v4(i, GATEWAY)),
            // `nodad`: usable at once, not after duplicate address detection.
            format!("addr add {}/64 dev {host} nodad", v6(i, GATEWAY)),
        ];
        let mut in_lab = vec!["link set lo up".to_owned()];
        for last in HOSTS {
            in_lab.push(format!("addr add {}/24 dev {lab}", v4(i, last)));
            in_lab.push(format!("addr add {}/64 dev {lab} nodad", v6(i, last)));
        }
        // Fixed neighbours: a fresh link can lose the first neighbour
        // solicitation, which costs a 1 s retransmission.
        for last in HOSTS {
            on_host.push(neighbour(v4(i, last), &lab_mac, &host));
            on_host.push(neighbour(v6(i, last), &lab_mac, &host));
        }
        in_lab.push(neighbour(v4(i, GATEWAY), &host_mac, &lab));
        in_lab.push(neighbour(v6(i, GATEWAY), &host_mac, &lab));
        on_host.push(format!("link set {host} up"));
        in_lab.push(format!("link set {lab} up"));
        ip_batch(None, &on_host)?;
        ip_batch(Some(&self.name), &in_lab)
    }
}

/// The `ip` command adding a permanent neighbour entry.
fn neighbour(addr: impl std::fmt::Display, mac: &str, dev: &str) -> String {
    format!("neigh add {addr} lladdr {mac} dev {dev} nud permanent")
}

/// Whether `ip netns add NAME` failed because the name is in use.
fn is_taken(name: &str, error: &anyhow::Error) -> bool {
    Path::new(NETNS_DIR).join(name).exists() || format!("{error:#}").contains("File exists")
}

impl Drop for LabNetns {
    fn drop(&mut self) {
        // Deleting the link first removes both ends now; the namespace's own
        // teardown is asynchronous and would leave the host side around
        // for the next lab with this index.
        let _ = ip(&["link", "del", &host_link(self.index)]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}
