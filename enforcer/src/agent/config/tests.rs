use std::{net::SocketAddr, path::PathBuf, time::Duration};

use super::{parse_upstream, AgentConfig};
use crate::enforcement::AllowedNet;
use crate::oci::UnannotatedPolicy;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_full_file_is_read() {
    let config = AgentConfig::parse(
        "socket: /run/x/agent.sock\n\
         group: adm\n\
         upstream: [192.0.2.53, '192.0.2.54:5353', '2001:db8::53', '[2001:db8::54]:5353']\n\
         default_network: none\n\
         http_ports: [8443, 80, 80]\n\
         allow_internal: [10.1.0.0/16, 192.0.2.7]\n\
         dns_min_ttl_s: 300\n\
         max_tasks: 100\n",
    )
    .unwrap();
    assert_eq!(
        config,
        AgentConfig {
            socket: PathBuf::from("/run/x/agent.sock"),
            group: Some(4),
            upstream: vec![
                addr("192.0.2.53:53"),
                addr("192.0.2.54:5353"),
                addr("[2001:db8::53]:53"),
                addr("[2001:db8::54]:5353"),
            ],
            default_network: UnannotatedPolicy::None,
            http_ports: vec![80, 8443],
            allow_internal: vec![
                AllowedNet {
                    addr: "10.1.0.0".parse().unwrap(),
                    prefix_len: 16
                },
                AllowedNet::host("192.0.2.7".parse().unwrap()),
            ],
            dns_min_ttl: Duration::from_secs(300),
            max_tasks: 100,
        }
    );
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let defaults = AgentConfig::default();
    assert_eq!(AgentConfig::parse("").unwrap(), defaults);
    assert_eq!(AgentConfig::parse("# nothing\n").unwrap(), defaults);
    assert_eq!(AgentConfig::parse("{}").unwrap(), defaults);
    assert_eq!(defaults.socket, PathBuf::from(super::DEFAULT_SOCKET));
    assert_eq!(defaults.http_ports, [80, 443]);
    assert_eq!(defaults.default_network, UnannotatedPolicy::Skip);
    assert_eq!(defaults.dns_min_ttl, Duration::from_secs(60));
    assert_eq!(defaults.max_tasks, 4_096);
}

#[test]
fn a_group_is_a_gid_a_numeric_name_or_a_name() {
    for (text, gid) in [("group: 4", 4), ("group: '4'", 4), ("group: root", 0)] {
        assert_eq!(AgentConfig::parse(text).unwrap().group, Some(gid), "{text}");
    }
}

#[test]
fn bad_files_name_the_key() {
    let cases = [
        ("sockets: /x", "unknown field `sockets`"),
        (
            "socket: run/agent.sock",
            "socket: run/agent.sock is not an absolute path",
        ),
        (
            "group: no-such-group-here",
            "group: no group named \"no-such-group-here\"",
        ),
        (
            "upstream: [192.0.2.1, dns.example]",
            "upstream[1]: \"dns.example\" is not IP or IP:port",
        ),
        ("upstream: 192.0.2.1", "upstream: invalid type"),
        (
            "default_network: full",
            "default_network: unknown variant `full`",
        ),
        ("http_ports: []", "http_ports: give at least one port"),
        ("http_ports: [0]", "http_ports: port 0 is not a port"),
        ("http_ports: [70000]", "http_ports"),
        ("http_ports: [1, 2, 3, 4, 5, 6, 7, 8, 9]", "http_ports: "),
        (
            "allow_internal: [files.example.com]",
            "allow_internal[0]: \"files.example.com\" is a name",
        ),
        ("allow_internal: [10.0.0.1/8]", "allow_internal[0]: "),
        (
            "dns_min_ttl_s: 0",
            "dns_min_ttl_s: 0 is not within 1 to 86400",
        ),
        ("dns_min_ttl_s: 86401", "dns_min_ttl_s: 86401 is not within"),
        ("max_tasks: 0", "max_tasks: 0 is not within 1 to 65536"),
        ("max_tasks: 65537", "max_tasks: 65537 is not within"),
        ("max_tasks: -1", "max_tasks: invalid type"),
        ("- a list", "invalid type"),
    ];
    for (text, expected) in cases {
        let error = AgentConfig::parse(text).expect_err(text);
        assert!(error.contains(expected), "{text}: {error}");
    }
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, "dns_min_ttl_s: 0\n").unwrap();
    let error = AgentConfig::load(&path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "config file {}: dns_min_ttl_s: 0 is not within 1 to 86400",
            path.display()
        )
    );

    std::fs::write(&path, "upstream: ['192.0.2.9']\n").unwrap();
    assert_eq!(
        AgentConfig::load(&path).unwrap().upstream,
        [addr("192.0.2.9:53")]
    );

    let missing = dir.path().join("missing.yaml");
    let error = AgentConfig::load(&missing).unwrap_err().to_string();
    assert!(error.contains(&missing.display().to_string()), "{error}");
}

#[test]
fn flags_override_the_file() {
    let mut config = AgentConfig::parse("socket: /a.sock\nupstream: [192.0.2.1]").unwrap();
    config.override_with(None, &[]);
    assert_eq!(config.socket, PathBuf::from("/a.sock"));
    assert_eq!(config.upstream, [addr("192.0.2.1:53")]);

    config.override_with(Some("/b.sock".into()), &[addr("192.0.2.2:53")]);
    assert_eq!(config.socket, PathBuf::from("/b.sock"));
    assert_eq!(config.upstream, [addr("192.0.2.2:53")]);
}

#[test]
fn upstreams_default_to_port_53() {
    assert_eq!(parse_upstream(" 192.0.2.1 ").unwrap(), addr("192.0.2.1:53"));
    assert_eq!(parse_upstream("::1").unwrap(), addr("[::1]:53"));
    assert!(parse_upstream("192.0.2.1:99999").is_err());
    assert!(parse_upstream("").is_err());
}
