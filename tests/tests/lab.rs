//! Smoke tests of the lab itself: namespaces, servers and the probe, without
//! the enforcer. If these fail, no enforcer test result means anything.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use enforcer_tests::{
    expect::both_families, kernel_lab_available, probe_bin, run_probe, Attempt, DnsTransport,
    HostService, Lab, Ready, Received,
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

/// The reply of the probe's `dns` query for `name` to the lab's resolver.
fn lookup(lab: &Lab, name: &str, flags: &[&str]) -> String {
    let dns = lab.dns().to_string();
    let mut args = vec!["dns", &dns, name];
    args.extend(flags);
    probe_ok(&args)
}

#[test]
fn dns_rotates_answers_with_a_short_ttl() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    for n in [0, 1, 0, 1] {
        let reply = lookup(&lab, "rotate.lab.test", &["--show-ttl"]);
        assert_eq!(reply, format!("{}/1", lab.host(n)));
    }
    // AAAA turns apart from A, whichever transport asks.
    for (n, transport) in [(0, None), (1, Some("--tcp")), (0, None)] {
        let mut flags = vec!["--qtype", "AAAA"];
        flags.extend(transport);
        assert_eq!(
            lookup(&lab, "rotate.lab.test", &flags),
            lab.host6(n).to_string()
        );
    }
    assert_eq!(lab.dns_query_count("rotate.lab.test"), 7);
    assert_eq!(lab.dns_query_count_of("rotate.lab.test", "AAAA"), 3);
    let reply = lookup(&lab, "short.lab.test", &["--show-ttl", "--qtype", "AAAA"]);
    assert_eq!(reply, format!("{}/1", lab.host6(1)));
    let reply = lookup(&lab, "files.lab.test", &["--show-ttl"]);
    assert_eq!(reply, format!("{}/60", lab.host(0)));
}

#[test]
fn dns_answers_cname_chains_whole() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let h0 = lab.host(0);
    assert_eq!(
        lookup(&lab, "alias.lab.test", &[]),
        format!("files.lab.test.,{h0}")
    );
    assert_eq!(
        lookup(&lab, "chain.lab.test", &["--tcp"]),
        format!("alias.lab.test.,files.lab.test.,{h0}")
    );
    assert_eq!(
        lookup(&lab, "outside.lab.test", &["--qtype", "AAAA"]),
        format!("blocked.lab.test.,{}", lab.host6(2))
    );
    assert_eq!(
        lookup(&lab, "chain.lab.test", &["--records"]),
        [
            "NoError".to_owned(),
            "answer chain.lab.test. 60 CNAME alias.lab.test.".to_owned(),
            "answer alias.lab.test. 60 CNAME files.lab.test.".to_owned(),
            format!("answer files.lab.test. 60 A {h0}"),
        ]
        .join("\n")
    );
    // Asked for the CNAME itself, the server does not follow it.
    assert_eq!(
        lookup(&lab, "alias.lab.test", &["--qtype", "CNAME"]),
        "files.lab.test."
    );
    // The server logs only the question, not the names it chased.
    assert_eq!(lab.dns_query_count("files.lab.test"), 0);
}

#[test]
fn dns_truncates_big_udp_answers() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let all: Vec<String> = lab
        .big_addresses()
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    assert_eq!(all.len(), 100);
    assert_eq!(all[0], lab.host(0).to_string());
    let all = all.join(",");
    assert_eq!(lookup(&lab, "big.lab.test", &[]), "TC:");
    assert_eq!(lookup(&lab, "big.lab.test", &["--edns", "512"]), "TC:");
    assert_eq!(lookup(&lab, "big.lab.test", &["--tcp"]), all);
    assert_eq!(lookup(&lab, "big.lab.test", &["--edns", "1232"]), "TC:");
    assert_eq!(lookup(&lab, "big.lab.test", &["--edns", "4096"]), all);
    let udp_before = lab.dns_queries_over(DnsTransport::Udp).len();
    assert_eq!(lookup(&lab, "big.lab.test", &["--follow-tc"]), all);
    assert_eq!(
        lab.dns_queries_over(DnsTransport::Udp).len(),
        udp_before + 1
    );
    assert_eq!(lab.dns_queries_over(DnsTransport::Tcp).len(), 2);
    // Small answers fit, EDNS or not.
    assert_eq!(
        lookup(&lab, "files.lab.test", &["--follow-tc", "--edns", "1232"]),
        lab.host(0).to_string()
    );
    assert_eq!(lab.dns_queries_over(DnsTransport::Tcp).len(), 2);
}

#[test]
fn dns_wildcard_answers_at_any_depth() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    for name in ["x.deep.lab.test", "x.y.z.deep.lab.test"] {
        assert_eq!(
            lookup(&lab, name, &["--records", "--qtype", "AAAA"]),
            format!("NoError\nanswer {name}. 60 AAAA {}", lab.host6(1))
        );
        assert_eq!(lookup(&lab, name, &["--tcp"]), lab.host(1).to_string());
    }
    for name in ["deep.lab.test", "xdeep.lab.test", "deep.lab.test.x"] {
        assert_eq!(lookup(&lab, name, &[]), "NXDomain:", "{name}");
    }
    assert!(lab
        .dns_queries()
        .contains(&"x.y.z.deep.lab.test".to_owned()));
}

#[test]
fn dns_serves_other_record_types() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    assert_eq!(
        lookup(&lab, "txt.lab.test", &["--qtype", "TXT"]),
        "secret-data"
    );
    assert_eq!(lookup(&lab, "txt.lab.test", &[]), lab.host(0).to_string());
    let https = lookup(&lab, "https.lab.test", &["--qtype", "HTTPS"]);
    let expected = format!(
        "1 . alpn=h2, port=443 ipv4hint={}, ech=\"AAhsYWItZWNoIQ==\"",
        lab.host(2)
    );
    assert_eq!(https, expected);
    assert_eq!(
        lookup(&lab, "https.lab.test", &["--qtype", "AAAA"]),
        lab.host6(0).to_string()
    );
    // A name with records of other types only: NOERROR, no answers.
    assert_eq!(lookup(&lab, "v6only.lab.test", &[]), "");
    assert_eq!(
        lookup(&lab, "v6only.lab.test", &["--qtype", "AAAA"]),
        lab.host6(1).to_string()
    );
    assert_eq!(lookup(&lab, "metadata.lab.test", &[]), "169.254.169.254");
    assert_eq!(lookup(&lab, "metadata.lab.test", &["--qtype", "AAAA"]), "");
    assert_eq!(lookup(&lab, "loopback.lab.test", &[]), "127.0.0.1");
    assert_eq!(
        lookup(&lab, "loopback.lab.test", &["--qtype", "AAAA"]),
        "::1"
    );
    assert_eq!(
        lookup(&lab, "private.lab.test", &[]),
        lab.host(2).to_string()
    );
}

#[test]
fn dns_adds_records_of_another_owner() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let (h0, h2) = (lab.host(0), lab.host(2));
    assert_eq!(lookup(&lab, "extra.lab.test", &[]), format!("{h0},{h2}"));
    assert_eq!(
        lookup(&lab, "extra.lab.test", &["--records", "--tcp"]),
        [
            "NoError".to_owned(),
            format!("answer extra.lab.test. 60 A {h0}"),
            format!("answer blocked.lab.test. 60 A {h2}"),
            format!("additional blocked.lab.test. 60 A {h2}"),
        ]
        .join("\n")
    );
    let (h0, h2) = (lab.host6(0), lab.host6(2));
    assert_eq!(
        lookup(&lab, "extra.lab.test", &["--records", "--qtype", "AAAA"]),
        [
            "NoError".to_owned(),
            format!("answer extra.lab.test. 60 AAAA {h0}"),
            format!("answer blocked.lab.test. 60 AAAA {h2}"),
            format!("additional blocked.lab.test. 60 AAAA {h2}"),
        ]
        .join("\n")
    );
}

#[test]
fn dns_probe_socket_flavours_and_source() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let h1 = lab.host(1).to_string();
    let expected = lab.host(0).to_string();
    for (flags, source) in [
        (vec![], format!("{h1}:53")),
        (vec!["--unconnected"], format!("{h1}:53")),
        (vec!["--v6-socket"], format!("[::ffff:{h1}]:53")),
        (
            vec!["--v6-socket", "--unconnected"],
            format!("[::ffff:{h1}]:53"),
        ),
        (vec!["--tcp"], format!("{h1}:53")),
        (vec!["--tcp", "--v6-socket"], format!("[::ffff:{h1}]:53")),
    ] {
        let mut args = vec!["dns", &h1, "files.lab.test", "--show-source"];
        args.extend(&flags);
        assert_eq!(
            probe_ok(&args),
            format!("{expected} from {source}"),
            "{flags:?}"
        );
    }
    let h1_6 = lab.host6(1).to_string();
    let reply = probe_ok(&[
        "dns",
        &h1_6,
        "nope.lab.test",
        "--unconnected",
        "--show-source",
    ]);
    assert_eq!(reply, format!("NXDomain: from [{h1_6}]:53"));
    // Every query reached host 1, logged with its transport.
    let peer = IpAddr::V4(lab.gateway());
    let queries: Vec<Received> = lab
        .received()
        .into_iter()
        .filter(|r| matches!(r, Received::Dns { .. }))
        .collect();
    assert_eq!(queries.len(), 7);
    assert_eq!(
        queries[4],
        Received::Dns {
            name: "files.lab.test".to_owned(),
            qtype: "A".to_owned(),
            peer,
            transport: DnsTransport::Tcp,
        }
    );
}

/// A DNS server of the host's namespace bound to 0.0.0.0, so its replies
/// leave from whichever address routing picks; killed on drop.
struct WildcardDns {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl WildcardDns {
    fn start() -> WildcardDns {
        let dir = std::env::temp_dir().join(format!("enf-wildcard-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        let ready = dir.join("ready.json");
        let child = Command::new(probe_bin())
            .arg("serve")
            .arg("--log")
            .arg(dir.join("received.log"))
            .arg("--ready")
            .arg(&ready)
            .args(["--dns-port", "0", "--bind", "0.0.0.0"])
            .spawn()
            .expect("spawn serve");
        let mut server = WildcardDns {
            child,
            dir,
            port: 0,
        };
        let started = Instant::now();
        while !ready.exists() {
            assert!(started.elapsed().as_secs() < 10, "serve never got ready");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let ready: Ready =
            serde_json::from_slice(&std::fs::read(&ready).expect("read ready")).expect("ready");
        server.port = ready.dns[0].port();
        server
    }
}

impl Drop for WildcardDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn dns_probe_takes_replies_only_from_the_server_address() {
    if !kernel_lab_available() {
        return;
    }
    let server = WildcardDns::start();
    let port = server.port.to_string();
    let ask = |addr: &str, flags: &[&str]| {
        let mut args = vec![
            "dns",
            addr,
            "x.test",
            "--port",
            &port,
            "--timeout-ms",
            "300",
        ];
        args.extend(flags);
        run_probe(&args)
    };
    for flags in [&[][..], &["--unconnected"]] {
        assert_eq!(ask("127.0.0.1", flags).reply.as_deref(), Some("NXDomain:"));
        // The reply to 127.0.0.2 comes from 127.0.0.1, the source routing picks.
        let result = ask("127.0.0.2", flags);
        assert_eq!(
            result.error.as_deref(),
            Some("timeout"),
            "{flags:?}: {result:?}"
        );
    }
}

#[test]
fn internal_allowance_covers_hosts_0_and_1_only() {
    if !kernel_lab_available() {
        return;
    }
    let lab = start_lab();
    let allowance = lab.internal_allowance();
    assert_eq!(allowance.len(), 2, "{allowance:?}");
    for n in 0..3 {
        for addr in [IpAddr::V4(lab.host(n)), IpAddr::V6(lab.host6(n))] {
            let covered = allowance.iter().any(|cidr| covers(cidr, addr));
            assert_eq!(covered, n < 2, "{addr} in {allowance:?}");
        }
    }
}

/// Whether `cidr` (`addr/len`) holds `addr`.
fn covers(cidr: &str, addr: IpAddr) -> bool {
    let (net, len) = cidr.split_once('/').expect("a CIDR");
    let len: u32 = len.parse().expect("a prefix length");
    // Both families left-aligned in 128 bits, so one mask fits both.
    let bits = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => (true, u128::from(v4.to_bits()) << 96),
        IpAddr::V6(v6) => (false, v6.to_bits()),
    };
    let ((net_v4, net), (addr_v4, addr)) = (bits(net.parse().expect("an address")), bits(addr));
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    net_v4 == addr_v4 && net & mask == addr & mask
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
