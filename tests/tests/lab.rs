//! Smoke tests of the lab itself: namespaces, servers and the probe, without
//! the enforcer. If these fail, no enforcer test result means anything.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use enforcer_tests::{
    expect::both_families, kernel_lab_available, probe_bin, run_probe, Attempt, HostService, Lab,
    Received,
};

const TCP_PORTS: [u16; 3] = [80, 443, 8080];
const UDP_PORT: &str = "9000";

fn start_lab() -> Lab {
    Lab::start().unwrap_or_else(|e| panic!("lab: {e:#}"))
}

/// Every address a lab host has, v4 then v6.
fn lab_addresses(lab: &Lab) -> Vec<IpAddr> {
    (0..3)
        .flat_map(|n| [IpAddr::V4(lab.host(n)), IpAddr::V6(lab.host6(n))])
        .collect()
}

fn probe_ok(args: &[&str]) -> String {
    let result = run_probe(args);
    assert!(result.ok, "probe {args:?}: {result:?}");
    result.reply.unwrap_or_default()
}

#[test]
fn every_host_serves_http_on_every_port() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    for addr in lab_addresses(&lab) {
        for port in TCP_PORTS {
            let reply = probe_ok(&["tcp", &addr.to_string(), &port.to_string()]);
            assert_eq!(
                reply,
                format!("hello from {}\n", SocketAddr::new(addr, port))
            );
            assert!(lab.contacted(addr, port), "{addr} port {port} not logged");
        }
    }
    let peer = IpAddr::V4(lab.gateway());
    assert!(lab.received().contains(&Received::Tcp {
        local: IpAddr::V4(lab.host(0)),
        port: 80,
        peer
    }));
    let peer6 = IpAddr::V6(lab.gateway6());
    assert!(lab.received().contains(&Received::Tcp {
        local: IpAddr::V6(lab.host6(2)),
        port: 8080,
        peer: peer6
    }));
}

#[test]
fn udp_echo_with_sendto_connect_and_mapped_addresses() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let v4 = lab.host(1).to_string();
    let v6 = lab.host6(1).to_string();
    for args in [
        vec!["udp", &v4, UDP_PORT],
        vec!["udp", &v4, UDP_PORT, "--connect"],
        vec!["udp", &v6, UDP_PORT],
        vec!["udp", &v6, UDP_PORT, "--connect"],
        vec!["udp", &v4, UDP_PORT, "--v6-socket"],
        vec!["udp", &v4, UDP_PORT, "--v6-socket", "--connect"],
    ] {
        assert_eq!(probe_ok(&args), "ping", "{args:?}");
    }
    assert!(lab.contacted(IpAddr::V4(lab.host(1)), 9000));
    assert!(lab.contacted(IpAddr::V6(lab.host6(1)), 9000));
    assert!(!lab.contacted(IpAddr::V4(lab.host(0)), 9000));
}

#[test]
fn tcp_over_a_v6_socket_to_a_mapped_address() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let reply = probe_ok(&["tcp", &lab.host(2).to_string(), "443", "--v6-socket"]);
    assert_eq!(reply, format!("hello from {}:443\n", lab.host(2)));
}

#[test]
fn dns_over_udp_and_tcp() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let dns = lab.dns().to_string();
    let expected = [
        ("files.lab.test", 0),
        ("mirror.lab.test", 1),
        ("a.mirror.lab.test", 1),
        ("blocked.lab.test", 2),
    ];
    for transport in [None, Some("--tcp")] {
        for (name, host) in expected {
            let mut args = vec!["dns", &dns, name];
            args.extend(transport);
            assert_eq!(probe_ok(&args), lab.host(host).to_string(), "{args:?}");
            args.extend(["--qtype", "AAAA"]);
            assert_eq!(probe_ok(&args), lab.host6(host).to_string(), "{args:?}");
        }
        let mut args = vec!["dns", &dns, "unknown.lab.test"];
        args.extend(transport);
        assert_eq!(probe_ok(&args), "NXDomain:", "{args:?}");
    }
    let queries = lab.dns_queries();
    assert_eq!(queries.len(), 2 * (2 * expected.len() + 1));
    assert!(queries.iter().any(|q| q == "unknown.lab.test"));
    // The lab's other addresses answer DNS too, over IPv6 as well.
    let reply = probe_ok(&["dns", &lab.host6(1).to_string(), "files.lab.test"]);
    assert_eq!(reply, lab.host(0).to_string());
}

#[test]
fn closed_port_is_refused_at_once() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    for addr in both_families(&lab, 0) {
        let result = run_probe(&["tcp", &addr.to_string(), "81"]);
        assert!(!result.ok);
        assert_eq!(result.errno, Some(libc::ECONNREFUSED), "{result:?}");
        assert!(result.elapsed_ms < 500, "{result:?}");
    }
}

#[test]
fn two_labs_at_once() {
    if !kernel_lab_available() {
        return;
    }
    let (a, b) = (start_lab(), start_lab());
    assert_ne!(a.index(), b.index());
    assert_ne!(a.netns(), b.netns());
    for lab in [&a, &b] {
        probe_ok(&["tcp", &lab.host(0).to_string(), "80"]);
        probe_ok(&["tcp", &lab.host6(0).to_string(), "80"]);
    }
    // Each lab logs only its own traffic.
    assert_eq!(a.received().len(), 2);
    assert_eq!(b.received().len(), 2);
}

#[test]
fn dropping_a_lab_removes_everything() {
    if !kernel_lab_available() {
        return;
    }
    let started = Instant::now();
    let lab = start_lab();
    let start_time = started.elapsed();
    // Another lab may take the freed index at once, so what must be gone is
    // this lab's namespace, link and directory, not anything by their names.
    let paths = [
        Path::new("/run/netns").join(lab.netns()),
        Path::new("/sys/class/net").join(format!("enf{}h", lab.index())),
        std::env::temp_dir().join(lab.netns()),
    ];
    let before: Vec<_> = paths.iter().map(|p| identity(p)).collect();
    assert!(before.iter().all(Option::is_some), "{paths:?}");

    let stopped = Instant::now();
    drop(lab);
    eprintln!("lab start {start_time:?}, stop {:?}", stopped.elapsed());
    for (path, before) in paths.iter().zip(before) {
        assert_ne!(identity(path), before, "{} still exists", path.display());
    }
}

/// Tells a file from another one later created at the same path.
fn identity(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

#[test]
fn host_service_serves_only_its_address() {
    if !kernel_lab_available() {
        return;
    }
    let service = HostService::start("127.0.0.1".parse().unwrap(), 0).expect("host service");
    let addr = service.addr();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert!(!service.contacted());
    let refused = run_probe(&["tcp", "::1", &addr.port().to_string()]);
    assert_eq!(refused.errno, Some(libc::ECONNREFUSED), "{refused:?}");
    let reply = probe_ok(&["tcp", "127.0.0.1", &addr.port().to_string()]);
    assert_eq!(reply, format!("hello from {addr}\n"));
    assert!(service.contacted());
}

#[test]
fn ping_lab_hosts() {
    if !kernel_lab_available() {
        return;
    }
    // Ping sockets are refused to every group while ping_group_range is its
    // default "1 0", even to root. This is a test VM: open them to all.
    let sysctl = Command::new("sysctl")
        .args(["-q", "-w", "net.ipv4.ping_group_range=0 2147483647"])
        .status()
        .expect("run sysctl");
    assert!(sysctl.success());
    let lab = start_lab();
    for addr in [lab.host(0).to_string(), lab.host6(2).to_string()] {
        assert_eq!(
            probe_ok(&["ping", &addr]),
            format!("echo reply from {addr}")
        );
    }
}

#[test]
fn root_creates_raw_and_packet_sockets() {
    if !kernel_lab_available() {
        return;
    }
    probe_ok(&["raw", "4"]);
    probe_ok(&["raw", "6"]);
    probe_ok(&["packet"]);
}

#[test]
fn connect_loop_reports_every_attempt() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let open = SocketAddr::new(IpAddr::V6(lab.host6(0)), 80).to_string();
    let closed = SocketAddr::new(IpAddr::V4(lab.host(0)), 81).to_string();
    let output = Command::new(probe_bin())
        .args(["connect-loop", "--target", &open, "--target", &closed])
        .args(["--duration-ms", "100"])
        .output()
        .expect("run connect-loop");
    assert!(output.status.success());
    let attempts = Attempt::parse_all(&output.stdout).expect("attempt lines");
    assert!(attempts.len() >= 4, "{attempts:?}");
    for pair in attempts.windows(2) {
        assert!(pair[0].t_ms <= pair[1].t_ms);
        assert_ne!(pair[0].target, pair[1].target, "targets alternate");
    }
    for attempt in &attempts {
        if attempt.target == open {
            assert!(attempt.ok, "{attempt:?}");
        } else {
            assert_eq!(attempt.target, closed);
            assert_eq!(attempt.errno, Some(libc::ECONNREFUSED), "{attempt:?}");
        }
    }
}

#[test]
fn join_cgroup_moves_the_probe() {
    if !kernel_lab_available() {
        return;
    }
    let cgroup = cgroup2_root().join(format!("enf-probe-test-{}", std::process::id()));
    std::fs::create_dir(&cgroup).expect("create cgroup");
    let result = run_probe(&["join-cgroup", cgroup.to_str().unwrap()]);
    let missing = run_probe(&["join-cgroup", "/nonexistent-cgroup"]);
    // The probe has exited and been reaped, so the cgroup is empty again.
    std::fs::remove_dir(&cgroup).expect("remove cgroup");
    assert!(result.ok, "{result:?}");
    assert_eq!(missing.errno, Some(libc::ENOENT), "{missing:?}");
}

/// Where cgroup2 is mounted: `/sys/fs/cgroup` on unified hosts, elsewhere
/// (such as `/sys/fs/cgroup/unified`) on hybrid ones.
fn cgroup2_root() -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("read mounts");
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map(|f| f[1].into())
        .expect("a cgroup2 mount")
}
