//! The lab host: network namespace `enf-bench-<pid>`, joined to this one by a 1500-MTU
//! veth pair, running the benchmark's server (TCP and DNS). Besides its own address it
//! owns all of [`NAMES_NET`], the addresses its DNS names resolve to. Dropping it (or
//! [`Lab::close`]) kills the server and deletes the veth and the namespace.

use std::{
    io::{BufRead, BufReader},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    process::{Child, Command, Stdio},
};

use anyhow::{bail, Context};

use super::server::READY_LINE;

const HOST_CIDR: &str = "10.214.0.1/24";
const LAB_CIDR: &str = "10.214.0.2/24";
/// The lab's own address.
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(10, 214, 0, 2);
/// Where the server listens, inside the lab.
pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(SERVER_V4), 80);
/// The lab's DNS server.
pub const DNS_SERVER: SocketAddr = SocketAddr::new(SERVER.ip(), 53);
/// Where the lab's numbered names point, one address each; all the lab's own.
pub const NAMES_NET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 214, 128, 0), 17);
/// Every lab address: private, so a task resolver must be told they may be handed out.
pub const LAB_NET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 214, 0, 0), 16);

pub struct Lab {
    netns: String,
    host_if: String,
    server: Option<Child>,
    closed: bool,
}

impl Lab {
    /// `exe` is this binary; the server runs on `cpu`.
    pub fn create(exe: &Path, cpu: usize) -> anyhow::Result<Lab> {
        let pid = std::process::id();
        let netns = format!("enf-bench-{pid}");
        // Interface names are limited to 15 characters.
        let host_if = format!("enfb{}h", pid % 10_000);
        let lab_if = format!("enfb{}l", pid % 10_000);
        ip(&["netns", "add", &netns])?;
        let mut lab = Lab {
            netns,
            host_if,
            server: None,
            closed: false,
        };
        let ns = lab.netns.as_str();
        let host_if = lab.host_if.as_str();
        ip(&[
            "link", "add", host_if, "mtu", "1500", "type", "veth", "peer", "name", &lab_if, "mtu",
            "1500", "netns", ns,
        ])?;
        ip(&["addr", "add", HOST_CIDR, "dev", host_if])?;
        ip(&["link", "set", host_if, "up"])?;
        ip(&["-n", ns, "addr", "add", LAB_CIDR, "dev", &lab_if])?;
        ip(&["-n", ns, "link", "set", &lab_if, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // A local route makes every address of the range the lab's own (AnyIP).
        let names = format!("{}/{}", NAMES_NET.0, NAMES_NET.1);
        ip(&["-n", ns, "route", "add", "local", &names, "dev", "lo"])?;
        let lab_addr = SERVER.ip().to_string();
        ip(&["route", "add", &names, "via", &lab_addr, "dev", host_if])?;
        lab.start_server(exe, cpu)?;
        Ok(lab)
    }

    /// Starts the server in the lab and waits until it listens: on every address, so
    /// that it answers on those of [`NAMES_NET`] too.
    fn start_server(&mut self, exe: &Path, cpu: usize) -> anyhow::Result<()> {
        let mut server = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(exe)
            .args(["serve", "--addr", &Ipv4Addr::UNSPECIFIED.to_string()])
            .args(["--port", &SERVER.port().to_string()])
            .args(["--cpu", &cpu.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the server: ip netns exec")?;
        let stdout = server.stdout.take().expect("stdout is piped");
        self.server = Some(server);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the server's ready line")?;
        if line.trim_end() != READY_LINE {
            bail!("the server did not start (its error is above)");
        }
        Ok(())
    }

    /// Removes the lab, reporting what could not be removed.
    pub fn close(mut self) -> anyhow::Result<()> {
        self.remove()
    }

    fn remove(&mut self) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        if let Some(mut server) = self.server.take() {
            // Killed, not asked: it holds no state worth saving.
            let _ = server.kill();
            let _ = server.wait();
        }
        // Deleting the namespace would delete the veth too, but in the background; this
        // is at once. It fails only if the veth was never made.
        let _ = ip(&["link", "del", &self.host_if]);
        ip(&["netns", "del", &self.netns])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("enforcer-bench: removing the lab: {e:#}");
        }
    }
}

/// Runs `ip ARGS`; the error carries ip's own message.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
