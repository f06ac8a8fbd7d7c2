//! Unit tests of the network spec model.

use std::net::IpAddr;
use std::path::Path;

use super::*;

/// What one row of [`spec_table`] expects.
#[derive(Debug)]
enum Want {
    /// Valid; the normalized, deduplicated domains in canonical form and order.
    Ok(Vec<String>),
    /// [`SpecError::InvalidDomain`] with this problem.
    Bad(DomainProblem),
    /// [`SpecError::DomainsNotAllowed`].
    NotAllowed,
    /// [`SpecError::HttpWithoutDomains`].
    NoDomains,
}

/// [`Want::Ok`] of these canonical domains.
fn good(domains: &[&str]) -> Want {
    Want::Ok(domains.iter().map(ToString::to_string).collect())
}

/// A label of `n` letters.
fn label(n: usize) -> String {
    "a".repeat(n)
}

/// A name of exactly `len` characters made of 63-character labels and a short tail.
fn long_name(len: usize) -> String {
    let mut name = String::new();
    while name.len() + 64 < len - 4 {
        name.push_str(&label(63));
        name.push('.');
    }
    let tail = len - name.len() - 4;
    name.push_str(&label(tail));
    name.push_str(".com");
    assert_eq!(name.len(), len);
    name
}

#[test]
fn spec_table() {
    use DomainProblem as P;
    use NetworkType::{Bridge, Default as Dflt, Host, Http, None as NoNet};
    use Want::{Bad, NoDomains, NotAllowed};

    let label63 = format!("{}.com", label(63));
    let label64 = format!("{}.com", label(64));
    let name253 = long_name(253);
    let name254 = long_name(254);

    #[rustfmt::skip]
    let rows: Vec<(NetworkType, Vec<&str>, Want)> = vec![
        // Bacalhau's TestNetworkConfig_IsValid.
        (Http, vec!["192.168.0.1"], good(&["192.168.0.1"])),
        (
            Http,
            vec!["0000:0000:0000:0000:0000:0000:0000:0001"],
            good(&["::1"]),
        ),
        (Http, vec!["example.com"], good(&["example.com"])),
        (Http, vec![".example.com"], good(&[".example.com"])),
        (Http, vec!["at@.walker"], Bad(P::InvalidChar { ch: '@' })),
        // Bacalhau rejects CIDRs; we accept them, and a /32 is the plain address.
        (Http, vec!["192.168.0.1/32"], good(&["192.168.0.1"])),
        // Bacalhau's TestDomainSet (in our deterministic order).
        (
            Http,
            vec!["foo.com", "bar.com"],
            good(&["bar.com", "foo.com"]),
        ),
        (
            Http,
            vec!["y.foo.com", ".foo.com", "x.foo.com"],
            good(&[".foo.com"]),
        ),
        (
            Http,
            vec!["y.foo.com", "foo.com", "x.foo.com"],
            good(&["foo.com", "x.foo.com", "y.foo.com"]),
        ),
        // Normalization.
        (Http, vec!["  Example.COM.  "], good(&["example.com"])),
        (Http, vec!["*.Example.com"], good(&[".example.com"])),
        (Http, vec![".example.com."], good(&[".example.com"])),
        (Http, vec!["2001:DB8:0::1"], good(&["2001:db8::1"])),
        (Http, vec!["::FFFF:10.1.2.3"], good(&["10.1.2.3"])),
        (
            Http,
            vec!["10.0.0.0/8", "fd00::/8"],
            good(&["10.0.0.0/8", "fd00::/8"]),
        ),
        (Http, vec!["::ffff:10.0.0.0/104"], good(&["10.0.0.0/8"])),
        (Http, vec!["0.0.0.0/0"], good(&["0.0.0.0/0"])),
        (
            Http,
            vec!["xn--bcher-kva.example"],
            good(&["xn--bcher-kva.example"]),
        ),
        (
            Http,
            vec!["1password.com", "a-b.c0m.io"],
            good(&["1password.com", "a-b.c0m.io"]),
        ),
        (Http, vec!["x.xn--p1ai"], good(&["x.xn--p1ai"])),
        (
            Http,
            vec![label63.as_str(), name253.as_str()],
            good(&[name253.as_str(), label63.as_str()]),
        ),
        // Deduplication.
        (
            Http,
            vec!["foo.com", "FOO.com.", " foo.com"],
            good(&["foo.com"]),
        ),
        (Http, vec!["foo.com", ".foo.com"], good(&[".foo.com"])),
        (Http, vec!["*.foo.com", ".foo.com"], good(&[".foo.com"])),
        (
            Http,
            vec![".a.foo.com", "b.a.foo.com", ".foo.com"],
            good(&[".foo.com"]),
        ),
        (
            Http,
            vec![".foo.com", "barfoo.com"],
            good(&["barfoo.com", ".foo.com"]),
        ),
        (
            Http,
            vec![
                "10.1.2.3",
                "10.0.0.0/16",
                "10.0.0.0/8",
                "11.0.0.1",
                "::ffff:11.0.0.1",
            ],
            good(&["10.0.0.0/8", "11.0.0.1"]),
        ),
        (
            Http,
            vec!["fd00::1", "fd00::/8", "::1"],
            good(&["::1", "fd00::/8"]),
        ),
        (
            Http,
            vec!["::1", "10.0.0.1", "b.com", ".a.com"],
            good(&[".a.com", "b.com", "10.0.0.1", "::1"]),
        ),
        // What Bacalhau's unanchored regex lets through.
        (
            Http,
            vec!["http://x.com"],
            Bad(P::Scheme {
                scheme: "http".into(),
            }),
        ),
        (
            Http,
            vec!["https://x.com/a"],
            Bad(P::Scheme {
                scheme: "https".into(),
            }),
        ),
        (Http, vec!["x.com/a"], Bad(P::Path { path: "/a".into() })),
        (Http, vec!["x.com:443"], Bad(P::Port { port: "443".into() })),
        (Http, vec![".x.com:80"], Bad(P::Port { port: "80".into() })),
        (Http, vec!["a b.com"], Bad(P::Whitespace)),
        (Http, vec!["a.com\tb.com"], Bad(P::Whitespace)),
        (Http, vec!["a..b.com"], Bad(P::EmptyLabel)),
        (Http, vec!["..a.com"], Bad(P::EmptyLabel)),
        (Http, vec!["a.com.."], Bad(P::EmptyLabel)),
        (
            Http,
            vec![label64.as_str()],
            Bad(P::LabelTooLong { label: label(64) }),
        ),
        (
            Http,
            vec![name254.as_str()],
            Bad(P::NameTooLong { len: 254 }),
        ),
        (Http, vec!["a_b.com"], Bad(P::InvalidChar { ch: '_' })),
        (Http, vec!["bücher.de"], Bad(P::InvalidChar { ch: 'ü' })),
        (
            Http,
            vec!["-a.com"],
            Bad(P::HyphenEdge { label: "-a".into() }),
        ),
        (
            Http,
            vec!["a-.com"],
            Bad(P::HyphenEdge { label: "a-".into() }),
        ),
        (Http, vec!["*"], Bad(P::BareWildcard)),
        (Http, vec!["."], Bad(P::BareWildcard)),
        (Http, vec!["*."], Bad(P::BareWildcard)),
        (Http, vec!["a.*.com"], Bad(P::MisplacedWildcard)),
        (Http, vec!["*a.com"], Bad(P::MisplacedWildcard)),
        (Http, vec!["*.*.a.com"], Bad(P::MisplacedWildcard)),
        (Http, vec!["a.com*"], Bad(P::MisplacedWildcard)),
        (Http, vec![""], Bad(P::Empty)),
        (Http, vec!["   "], Bad(P::Empty)),
        (Http, vec!["1.2.3"], Bad(P::NotIpOrName)),
        (Http, vec!["256.1.1.1"], Bad(P::NotIpOrName)),
        (Http, vec!["010.1.1.1"], Bad(P::NotIpOrName)),
        (Http, vec!["localhost"], Bad(P::SingleLabel)),
        (Http, vec![".com"], Bad(P::SingleLabel)),
        (Http, vec![".10.0.0.1"], Bad(P::WildcardIp)),
        (Http, vec!["[::1]"], Bad(P::Brackets)),
        (Http, vec!["[::1]:443"], Bad(P::Brackets)),
        (Http, vec!["gggg::1"], Bad(P::InvalidIpv6)),
        (Http, vec!["fe80::1%eth0"], Bad(P::InvalidIpv6)),
        (
            Http,
            vec!["10.0.0.1/8"],
            Bad(P::CidrHostBits {
                network: "10.0.0.0/8".into(),
            }),
        ),
        (
            Http,
            vec!["fd00::1/8"],
            Bad(P::CidrHostBits {
                network: "fd00::/8".into(),
            }),
        ),
        (
            Http,
            vec!["10.0.0.0/33"],
            Bad(P::CidrPrefix {
                prefix: "33".into(),
                max: 32,
            }),
        ),
        (
            Http,
            vec!["fd00::/129"],
            Bad(P::CidrPrefix {
                prefix: "129".into(),
                max: 128,
            }),
        ),
        (
            Http,
            vec!["10.0.0.0/"],
            Bad(P::CidrPrefix {
                prefix: "".into(),
                max: 32,
            }),
        ),
        (
            Http,
            vec!["10.0.0.0/+8"],
            Bad(P::CidrPrefix {
                prefix: "+8".into(),
                max: 32,
            }),
        ),
        // The first invalid entry is the error.
        (
            Http,
            vec!["ok.com", "x.com:1", "y_.com"],
            Bad(P::Port { port: "1".into() }),
        ),
        // Domains only with HTTP; HTTP only with domains.
        (Http, vec![], NoDomains),
        (NoNet, vec!["a.com"], NotAllowed),
        (Host, vec!["a.com"], NotAllowed),
        (Bridge, vec!["a.com"], NotAllowed),
        (Dflt, vec!["a.com"], NotAllowed),
        (Dflt, vec!["not valid"], NotAllowed),
        (NoNet, vec![], good(&[])),
        (Host, vec![], good(&[])),
        (Bridge, vec![], good(&[])),
        (Dflt, vec![], good(&[])),
    ];

    for (network_type, domains, want) in rows {
        let got = NetworkSpec::new(network_type, &domains);
        let context = format!("{network_type} {domains:?}: got {got:?}, want {want:?}");
        match (&want, got) {
            (Want::Ok(expected), Ok(spec)) => {
                assert_eq!(spec.network_type, network_type, "{context}");
                let got: Vec<String> = spec.domains.iter().map(ToString::to_string).collect();
                assert_eq!(got, *expected, "{context}");
                // The canonical form parses back to itself.
                for domain in &spec.domains {
                    let again = Domain::parse(&domain.to_string()).expect(&context);
                    assert_eq!(&again, domain, "{context}");
                }
            }
            (Want::Bad(problem), Err(SpecError::InvalidDomain { problem: got, .. })) => {
                assert_eq!(&got, problem, "{context}");
            }
            (
                Want::NotAllowed,
                Err(SpecError::DomainsNotAllowed {
                    network_type: t,
                    count,
                }),
            ) => {
                assert_eq!((t, count), (network_type, domains.len()), "{context}");
            }
            (Want::NoDomains, Err(SpecError::HttpWithoutDomains)) => {}
            _ => panic!("{context}"),
        }
    }
}

#[test]
fn network_type_parsing() {
    for (input, want) in [
        ("Default", NetworkType::Default),
        ("default", NetworkType::Default),
        ("None", NetworkType::None),
        (" NONE ", NetworkType::None),
        ("Host", NetworkType::Host),
        ("host", NetworkType::Host),
        ("Full", NetworkType::Host),
        ("fUlL", NetworkType::Host),
        ("HTTP", NetworkType::Http),
        ("http", NetworkType::Http),
        ("Http\n", NetworkType::Http),
        ("Bridge", NetworkType::Bridge),
        ("BRIDGE", NetworkType::Bridge),
    ] {
        assert_eq!(NetworkType::parse(input).unwrap(), want, "{input:?}");
        assert_eq!(input.parse::<NetworkType>().unwrap(), want, "{input:?}");
    }
    for bad in ["", " ", "https", "tcp", "none,http", "Nonee"] {
        let err = NetworkType::parse(bad).unwrap_err();
        assert!(
            matches!(&err, SpecError::UnknownType { input } if input == bad),
            "{err}"
        );
        let msg = err.to_string();
        for name in ["Default", "None", "Host", "Full", "HTTP", "Bridge"] {
            assert!(msg.contains(name), "{msg}");
        }
    }
    let shown: Vec<String> = NetworkType::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["Default", "None", "Host", "HTTP", "Bridge"]);
    for t in NetworkType::ALL {
        assert_eq!(NetworkType::parse(&t.to_string()).unwrap(), t);
    }

    for (input, want) in [
        ("none", ResolvedNetworkKind::None),
        ("None", ResolvedNetworkKind::None),
        ("FULL", ResolvedNetworkKind::Full),
        ("host", ResolvedNetworkKind::Full),
        (" http ", ResolvedNetworkKind::Http),
    ] {
        assert_eq!(
            input.parse::<ResolvedNetworkKind>().unwrap(),
            want,
            "{input:?}"
        );
        assert_eq!(
            want.to_string().parse::<ResolvedNetworkKind>().unwrap(),
            want
        );
    }
    for bad in ["", "default", "bridge", "nope"] {
        let err = bad.parse::<ResolvedNetworkKind>().unwrap_err();
        assert!(matches!(err, SpecError::UnknownDefault { .. }), "{err}");
    }
    assert_eq!(SHIPPED_DEFAULT, ResolvedNetworkKind::None);
    assert_eq!(ResolvedNetworkKind::default(), SHIPPED_DEFAULT);
}

const JOB_JSON: &str = r#"{
  "Name": "build",
  "Type": "batch",
  "Count": 1,
  "Tasks": [
    {
      "Name": "fetch",
      "Engine": {"Type": "docker", "Params": {"Image": "rust:1"}},
      "Network": {"Type": "http", "Domains": ["crates.io", "*.GitHub.com", "x.github.com"]}
    },
    {"Name": "compile", "Engine": {"Type": "docker"}, "Network": {"Type": "None"}},
    {"Name": "upload", "Network": {"Type": "Full", "Ports": [{"Name": "web"}]}},
    {"Name": "plain"}
  ]
}"#;

const JOB_YAML: &str = "
Name: build
Type: batch
Count: 1
Tasks:
  - Name: fetch
    Engine:
      Type: docker
    Network:
      Type: HTTP
      Domains:
        - crates.io
        - .github.com
  - Name: empty-type
    Network:
      Type: ''
";

#[test]
fn job_spec_parsing() {
    let fetch = NetworkSpec::from_job_str(JOB_JSON, Some("fetch")).unwrap();
    assert_eq!(fetch.network_type, NetworkType::Http);
    assert_eq!(fetch.domains.to_string(), ".github.com, crates.io");
    assert_eq!(fetch.to_string(), "HTTP [.github.com, crates.io]");
    let compile = NetworkSpec::from_job_str(JOB_JSON, Some("compile")).unwrap();
    assert_eq!(
        compile,
        NetworkSpec::new::<&str>(NetworkType::None, &[]).unwrap()
    );
    let upload = NetworkSpec::from_job_str(JOB_JSON, Some("upload")).unwrap();
    assert_eq!(upload.network_type, NetworkType::Host);
    let plain = NetworkSpec::from_job_str(JOB_JSON, Some("plain")).unwrap();
    assert_eq!(plain, NetworkSpec::default());
    assert_eq!(plain.network_type, NetworkType::Default);

    let yaml = NetworkSpec::from_job_str(JOB_YAML, Some("fetch")).unwrap();
    assert_eq!(yaml, fetch);
    let empty_type = NetworkSpec::from_job_str(JOB_YAML, Some("empty-type")).unwrap();
    assert_eq!(empty_type.network_type, NetworkType::Default);

    // Lowercase keys, a `Job` wrapper, and a single task needing no --task.
    let lower = r#" {"job": {"tasks": [{"name": "t", "network": {"type": "bridge"}}]}}"#;
    let spec = NetworkSpec::from_job_str(lower, None).unwrap();
    assert_eq!(spec.network_type, NetworkType::Bridge);
    let single = "Tasks:\n  - Name: only\n    Network: {Type: HTTP, Domains: [a.com]}\n";
    assert_eq!(
        NetworkSpec::from_job_str(single, None)
            .unwrap()
            .domains
            .len(),
        1
    );
    let unnamed = "Tasks: [{Network: null}]";
    assert_eq!(
        NetworkSpec::from_job_str(unnamed, None).unwrap(),
        NetworkSpec::default()
    );

    // Several tasks and none chosen.
    let err = NetworkSpec::from_job_str(JOB_JSON, None).unwrap_err();
    assert!(
        matches!(&err, SpecError::TaskRequired { tasks, .. } if tasks.len() == 4),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("fetch, compile, upload, plain") && msg.contains("--task"),
        "{msg}"
    );

    // A task that is not there.
    let err = NetworkSpec::from_job_str(JOB_YAML, Some("nope")).unwrap_err();
    assert!(matches!(&err, SpecError::TaskNotFound { wanted, .. } if wanted == "nope"));
    assert!(err.to_string().contains("fetch, empty-type"), "{err}");
    let twice = "Tasks: [{Name: a}, {Name: a}]";
    let err = NetworkSpec::from_job_str(twice, Some("a")).unwrap_err();
    assert!(
        matches!(err, SpecError::DuplicateTask { count: 2, .. }),
        "{err}"
    );

    // No tasks.
    for text in [
        "Name: x",
        "Tasks: []",
        "{\"Tasks\": null}",
        "Job: {Name: x}",
    ] {
        let err = NetworkSpec::from_job_str(text, None).unwrap_err();
        assert!(matches!(err, SpecError::NoTasks { .. }), "{text:?}: {err}");
    }

    // Malformed input or wrong shape: the parser's message.
    for (text, format) in [
        ("{\"Tasks\": [", "JSON"),
        ("Tasks: [a: b", "YAML"),
        ("just a string", "YAML"),
        ("", "YAML"),
        ("{\"Tasks\": [{\"Network\": {\"Type\": 3}}]}", "JSON"),
        ("Tasks: {Name: a}", "YAML"),
        (
            "{\"Tasks\": [{\"Network\": {\"Domains\": \"a.com\"}}]}",
            "JSON",
        ),
    ] {
        let err = NetworkSpec::from_job_str(text, None).unwrap_err();
        match &err {
            SpecError::Parse {
                format: f, message, ..
            } => {
                assert_eq!(*f, format, "{text:?}: {err}");
                assert!(!message.is_empty());
            }
            _ => panic!("{text:?}: {err}"),
        }
    }

    // Invalid networks inside a task name the task.
    for (text, check) in [
        (
            "Tasks: [{Name: t, Network: {Type: tcp}}]",
            (|e: &SpecError| matches!(e, SpecError::UnknownType { .. })) as fn(&SpecError) -> bool,
        ),
        ("Tasks: [{Name: t, Network: {Type: HTTP}}]", |e| {
            matches!(e, SpecError::HttpWithoutDomains)
        }),
        (
            "Tasks: [{Name: t, Network: {Type: None, Domains: [a.com]}}]",
            |e| matches!(e, SpecError::DomainsNotAllowed { .. }),
        ),
        ("Tasks: [{Name: t, Network: {Domains: [a.com]}}]", |e| {
            matches!(
                e,
                SpecError::DomainsNotAllowed {
                    network_type: NetworkType::Default,
                    ..
                }
            )
        }),
        (
            "Tasks: [{Name: t, Network: {Type: HTTP, Domains: ['x.com:443']}}]",
            |e| {
                matches!(
                    e,
                    SpecError::InvalidDomain {
                        problem: DomainProblem::Port { .. },
                        ..
                    }
                )
            },
        ),
    ] {
        let err = NetworkSpec::from_job_str(text, None).unwrap_err();
        match &err {
            SpecError::InTask { task, error, .. } => {
                assert_eq!(task, "t");
                assert!(check(error), "{text:?}: {err}");
            }
            _ => panic!("{text:?}: {err}"),
        }
        assert!(
            err.to_string().starts_with("in job spec, task \"t\": "),
            "{err}"
        );
    }
}

#[test]
fn job_spec_files() {
    let dir = std::env::temp_dir().join(format!("enforcer-spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("job.yaml");
    std::fs::write(&good, JOB_YAML).unwrap();
    let spec = NetworkSpec::from_job_file(&good, Some("fetch")).unwrap();
    assert_eq!(spec.network_type, NetworkType::Http);

    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"Tasks\": [}").unwrap();
    let err = NetworkSpec::from_job_file(&bad, None).unwrap_err();
    assert!(
        matches!(err, SpecError::Parse { format: "JSON", .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&bad.display().to_string()) && msg.contains("line 1"),
        "{msg}"
    );

    let missing = dir.join("missing.yaml");
    let err = NetworkSpec::from_job_file(&missing, None).unwrap_err();
    assert!(matches!(err, SpecError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.yaml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resolve() {
    use ResolvedNetworkKind as Node;
    let spec = |t, d: &[&str]| NetworkSpec::new(t, d).unwrap();
    let http = spec(NetworkType::Http, &["a.com", ".b.com"]);

    for node in [Node::None, Node::Full, Node::Http] {
        let r = spec(NetworkType::None, &[]).resolve(node);
        assert_eq!((r.network, r.notes.len()), (ResolvedNetwork::None, 0));
        let r = spec(NetworkType::Host, &[]).resolve(node);
        assert_eq!((r.network, r.notes.len()), (ResolvedNetwork::Full, 0));
        let r = spec(NetworkType::Bridge, &[]).resolve(node);
        assert_eq!(r.network, ResolvedNetwork::Full);
        assert_eq!(
            r.notes,
            ["Type Bridge is enforced as Full for egress; its port mappings are out of scope"]
        );
        let r = http.resolve(node);
        assert_eq!(r.network, ResolvedNetwork::Http(http.domains.clone()));
        assert!(r.notes.is_empty());
    }

    let default = NetworkSpec::default();
    let r = default.resolve(SHIPPED_DEFAULT);
    assert_eq!(r.network, ResolvedNetwork::None);
    assert_eq!(
        r.notes,
        ["Type Default resolved to None by the node setting"]
    );
    let r = default.resolve(Node::Full);
    assert_eq!(r.network, ResolvedNetwork::Full);
    assert_eq!(
        r.notes,
        ["Type Default resolved to Full by the node setting"]
    );
    let r = default.resolve(Node::Http);
    assert_eq!(r.network, ResolvedNetwork::Http(DomainSet::default()));
    assert_eq!(
        r.notes[0],
        "Type Default resolved to HTTP by the node setting"
    );
    assert!(r.notes[1].contains("no DNS"), "{:?}", r.notes);
    assert_eq!(r.network.to_string(), "HTTP []");
    assert_eq!(
        http.resolve(SHIPPED_DEFAULT).network.to_string(),
        "HTTP [a.com, .b.com]"
    );
}

#[test]
fn matching() {
    let set = DomainSet::parse(&["exact.com", ".wild.org", "10.0.0.0/8", "2001:db8::1"]).unwrap();
    for name in [
        "exact.com",
        "EXACT.com.",
        "wild.org",
        "a.wild.org",
        "a.b.WILD.org.",
    ] {
        assert!(set.matches_name(name), "{name}");
    }
    for name in [
        "x.exact.com",
        "notwild.org",
        "org",
        "exact.co",
        "10.0.0.1",
        "",
    ] {
        assert!(!set.matches_name(name), "{name}");
    }
    for ip in ["10.1.2.3", "::ffff:10.9.9.9", "2001:db8::1"] {
        assert!(set.matches_ip(ip.parse::<IpAddr>().unwrap()), "{ip}");
    }
    for ip in ["11.0.0.1", "2001:db8::2", "::a00:1"] {
        assert!(!set.matches_ip(ip.parse::<IpAddr>().unwrap()), "{ip}");
    }
    let wild = Domain::parse(".foo.com").unwrap();
    assert!(wild.covers(&Domain::parse("foo.com").unwrap()));
    assert!(wild.covers(&Domain::parse(".x.foo.com").unwrap()));
    assert!(!wild.covers(&Domain::parse("xfoo.com").unwrap()));
    assert!(!Domain::parse("foo.com").unwrap().covers(&wild));
}

#[test]
fn serde_round_trip() {
    let spec = NetworkSpec::new(NetworkType::Http, &["B.com", ".a.com", "10.0.0.0/8"]).unwrap();
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(
        json,
        r#"{"Type":"HTTP","Domains":[".a.com","b.com","10.0.0.0/8"]}"#
    );
    assert_eq!(serde_json::from_str::<NetworkSpec>(&json).unwrap(), spec);
    let none = serde_json::to_string(&NetworkSpec::default()).unwrap();
    assert_eq!(none, r#"{"Type":"Default"}"#);
    let err =
        serde_json::from_str::<NetworkSpec>(r#"{"Type":"None","Domains":["a.com"]}"#).unwrap_err();
    assert!(
        err.to_string()
            .contains("Domains are only allowed with Type HTTP"),
        "{err}"
    );
    let set: DomainSet = serde_json::from_str(r#"["x.a.com", "*.a.com"]"#).unwrap();
    assert_eq!(set.to_string(), ".a.com");
}

#[test]
fn messages() {
    let msg = |s: &str| Domain::parse(s).unwrap_err().to_string();
    assert_eq!(
        msg("x.com:443"),
        "invalid domain \"x.com:443\": it has a port (:443); give the host name only \
         (Type HTTP allows the HTTP ports 80 and 443)"
    );
    assert!(msg("256.1.1.1").contains("not a valid IP address or domain name"));
    assert!(msg("10.0.0.1/8").contains("did you mean 10.0.0.0/8?"));
    assert!(msg("bücher.de").contains("xn--"));
    let err = NetworkSpec::new(NetworkType::Bridge, &["a.com"]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Domains are only allowed with Type HTTP"),
        "{err}"
    );
}

/// The deduplication rule as first written, comparing every pair: the reference that
/// [`DomainSet`]'s `FromIterator` must agree with.
fn dedup_pairwise(entries: &[Domain]) -> Vec<Domain> {
    let unique: std::collections::BTreeSet<&Domain> = entries.iter().collect();
    unique
        .iter()
        .filter(|d| {
            !unique
                .iter()
                .any(|other| other != *d && other.covers(d) && !(d.covers(other) && *d < other))
        })
        .map(|d| (*d).clone())
        .collect()
}

/// A deterministic pseudo-random number generator (xorshift64).
struct Rng(u64);

impl Rng {
    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// One of `items`.
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One entry from a small space, so that entries often cover each other; some are hand-built
/// values that [`Domain::parse`] never makes (uppercase, host bits, prefix out of range).
fn random_entry(rng: &mut Rng) -> Domain {
    let name = |rng: &mut Rng| {
        let depth = 1 + rng.below(3);
        let labels: Vec<&str> = (0..depth).map(|_| rng.pick(&["a", "b", "A"])).collect();
        format!(
            "{}.{}",
            labels.join("."),
            rng.pick(&["x.com", "X.com", "com"])
        )
    };
    let v4 = |rng: &mut Rng| IpAddr::from([10, 0, rng.below(2) as u8, rng.below(8) as u8]);
    let v6 = |rng: &mut Rng| {
        IpAddr::from([
            0xfd00,
            0,
            0,
            0,
            0,
            0,
            rng.below(2) as u16,
            rng.below(8) as u16,
        ])
    };
    match rng.below(8) {
        0 | 1 => Domain::Exact(name(rng)),
        2 | 3 => Domain::Wildcard(name(rng)),
        4 => Domain::Ip(v4(rng)),
        5 => Domain::Ip(v6(rng)),
        6 => {
            let prefix_len = 20 + rng.below(16) as u8;
            let addr = v4(rng);
            let aligned = rng.below(4) != 0 && prefix_len <= 32;
            let addr = if aligned {
                domain::network_of(addr, prefix_len)
            } else {
                addr
            };
            Domain::Cidr { addr, prefix_len }
        }
        _ => {
            let prefix_len = 108 + rng.below(24) as u8;
            let addr = v6(rng);
            let aligned = rng.below(4) != 0 && prefix_len <= 128;
            let addr = if aligned {
                domain::network_of(addr, prefix_len)
            } else {
                addr
            };
            Domain::Cidr { addr, prefix_len }
        }
    }
}

#[test]
fn dedup_agrees_with_pairwise_rule() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..2_000 {
        let len = rng.below(40) as usize;
        let entries: Vec<Domain> = (0..len).map(|_| random_entry(&mut rng)).collect();
        let set: DomainSet = entries.iter().cloned().collect();
        assert_eq!(
            set.as_slice(),
            dedup_pairwise(&entries),
            "round {round}: {entries:?}"
        );
    }
    // Parsed entries, the usual case.
    let parsed = DomainSet::parse(&[
        "b.a.x.com",
        ".a.x.com",
        "a.x.com",
        ".x.com",
        "ax.com",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.3",
        "11.0.0.0/32",
        "::/0",
        "fd00::1",
    ])
    .unwrap();
    let entries: Vec<Domain> = parsed.iter().cloned().collect();
    assert_eq!(parsed.as_slice(), dedup_pairwise(&entries));
    assert_eq!(
        parsed.to_string(),
        "ax.com, .x.com, 10.0.0.0/8, 11.0.0.0, ::/0"
    );
}

#[test]
fn dedup_scales_to_many_entries() {
    // 100 wildcards `.zK.example.com` and 199,900 names `hI.zJ.example.com`, J = I mod 1000:
    // the wildcards cover the 19,900 names whose J is below 100.
    let names: Vec<String> = (0..200_000)
        .map(|i| match i {
            0..100 => format!(".z{i}.example.com"),
            _ => format!("h{i}.z{}.example.com", i % 1000),
        })
        .collect();
    let set = DomainSet::parse(&names).unwrap();
    assert_eq!(set.len(), 100 + 199_900 - 19_900);
    assert!(set.matches_name("h199999.z999.example.com"));
    assert!(set.matches_name("anything.z42.example.com"));
    assert!(!set.matches_name("h1.z100.example.com"));

    // 100,000 IPv4 addresses and a /16 that covers 34,464 of them.
    let mut addrs: Vec<String> = (0..100_000).map(nth_v4).collect();
    addrs.push("10.1.0.0/16".to_owned());
    let set = DomainSet::parse(&addrs).unwrap();
    assert_eq!(set.len(), 65_536 + 1);
    assert!(set.matches_ip("10.1.134.159".parse().unwrap()));
    assert!(!set.matches_ip("10.2.0.0".parse().unwrap()));
}

/// A job spec of one task with Type None and `filler` as the value of an ignored key, in
/// JSON (`{...}`) or in YAML flow style.
fn job_with(filler: &str, json: bool) -> String {
    if json {
        format!(r#"{{"Tasks": [{{"Name": "t", "X": {filler}, "Network": {{"Type": "None"}}}}]}}"#)
    } else {
        format!("Tasks: [{{Name: t, X: {filler}, Network: {{Type: None}}}}]")
    }
}

/// `n` nested lists.
fn nested(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

#[test]
fn job_spec_size_limit() {
    // Padded with a YAML comment to exactly the limit: accepted; one byte more: refused.
    let job = "Tasks: [{Name: t}]\n#";
    let at_limit = format!("{job}{}", "x".repeat(MAX_SPEC_BYTES - job.len()));
    assert_eq!(at_limit.len(), MAX_SPEC_BYTES);
    NetworkSpec::from_job_str(&at_limit, None).unwrap();
    let over = format!("{at_limit}x");
    let err = NetworkSpec::from_job_str(&over, None).unwrap_err();
    assert!(
        matches!(
            err,
            SpecError::TooLarge {
                limit: MAX_SPEC_BYTES,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "job spec is larger than 1048576 bytes, the most a job spec may have"
    );

    // A file is read no further than one byte past the limit: /dev/zero never ends.
    let err = NetworkSpec::from_job_file(Path::new("/dev/zero"), None).unwrap_err();
    assert!(matches!(err, SpecError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("job spec /dev/zero is larger than"),
        "{err}"
    );

    // Too large even when the limit cuts a character in two.
    let dir = std::env::temp_dir().join(format!("enforcer-spec-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.yaml");
    std::fs::write(&file, "é".repeat(MAX_SPEC_BYTES / 2 + 1)).unwrap();
    let err = NetworkSpec::from_job_file(&file, None).unwrap_err();
    assert!(matches!(err, SpecError::TooLarge { .. }), "{err}");
    std::fs::write(&file, &at_limit).unwrap();
    NetworkSpec::from_job_file(&file, None).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn job_spec_nesting_limit() {
    let none = NetworkSpec::new::<&str>(NetworkType::None, &[]).unwrap();
    // The task list and the task take 2 levels in YAML, 3 with JSON's outer `{`.
    for (json, around) in [(true, 3), (false, 2)] {
        let deepest = job_with(&nested(MAX_SPEC_NESTING - around), json);
        assert_eq!(NetworkSpec::from_job_str(&deepest, None).unwrap(), none);
        let too_deep = job_with(&nested(MAX_SPEC_NESTING - around + 1), json);
        let err = NetworkSpec::from_job_str(&too_deep, None).unwrap_err();
        assert!(
            matches!(
                err,
                SpecError::TooDeep {
                    line: 1,
                    limit: MAX_SPEC_NESTING,
                    ..
                }
            ),
            "{err}"
        );
    }

    // A file of nothing but `[`, refused before the parser sees it.
    let err = NetworkSpec::from_job_str(&"[".repeat(MAX_SPEC_BYTES), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job spec nests '[' and '{' more than 64 levels deep (at line 1), more than a job spec \
         needs"
    );
    let err = NetworkSpec::from_job_str(&format!("\n\n{}", "{".repeat(100)), None).unwrap_err();
    assert!(matches!(err, SpecError::TooDeep { line: 3, .. }), "{err}");

    // Brackets in quoted strings and comments do not count.
    let brackets = "[{".repeat(100);
    let name = format!(r#""{brackets} \" {brackets}""#);
    let spec = NetworkSpec::from_job_str(&job_with(&name, true), None).unwrap();
    assert_eq!(spec, none);
    for filler in [
        format!("'{brackets}'"),
        format!("'it''s {brackets}'"),
        format!("\"{brackets} \\\" {brackets}\""),
        format!("don't # {brackets}\n"),
    ] {
        let job = job_with(&filler, false);
        assert_eq!(
            NetworkSpec::from_job_str(&job, None).unwrap(),
            none,
            "{job}"
        );
    }
}

#[test]
fn domain_count_limit() {
    // Entries are counted before they are parsed or deduplicated.
    let many = vec!["a.com"; MAX_DOMAINS];
    assert_eq!(
        NetworkSpec::new(NetworkType::Http, &many)
            .unwrap()
            .domains
            .len(),
        1
    );
    let too_many = vec!["not valid"; MAX_DOMAINS + 1];
    let err = NetworkSpec::new(NetworkType::Http, &too_many).unwrap_err();
    assert!(
        matches!(
            err,
            SpecError::TooManyDomains {
                count: 65_537,
                limit: 65_536
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "65537 Domains entries were given; at most 65536 are accepted"
    );

    let job = format!(
        "Tasks: [{{Name: t, Network: {{Type: HTTP, Domains: [{}]}}}}]",
        too_many.join(",")
    );
    let err = NetworkSpec::from_job_str(&job, None).unwrap_err();
    match &err {
        SpecError::InTask { error, .. } => {
            assert!(matches!(**error, SpecError::TooManyDomains { .. }), "{err}")
        }
        _ => panic!("{err}"),
    }
}

/// The `i`-th of many distinct IPv4 addresses.
fn nth_v4(i: usize) -> String {
    std::net::Ipv4Addr::from(0x0a00_0000 + i as u32).to_string()
}

/// Checks that a spec of `limit` distinct entries `entry(0)`, `entry(1)`... (the capacity of
/// the allowlist for `family` and `what`) is accepted, even with a duplicate, and that one more
/// is refused.
fn assert_capacity(entry: fn(usize) -> String, family: &str, what: &str, limit: usize) {
    let mut domains: Vec<String> = (0..limit).map(entry).collect();
    domains.push(entry(0));
    let spec = NetworkSpec::new(NetworkType::Http, &domains).unwrap();
    assert_eq!(spec.domains.len(), limit);

    domains.push(entry(limit));
    let err = NetworkSpec::new(NetworkType::Http, &domains).unwrap_err();
    let counted = match err {
        SpecError::TooManyAddresses {
            family,
            count,
            limit,
        } if what == "addresses" => (family, count, limit),
        SpecError::TooManyCidrs {
            family,
            count,
            limit,
        } if what == "CIDRs" => (family, count, limit),
        ref other => panic!("{family} {what}: {other}"),
    };
    assert_eq!(counted, (family, limit + 1, limit));
    let expected = format!(
        "the allowlist holds at most {limit} {family} {what}; the spec has {}",
        limit + 1
    );
    assert!(err.to_string().starts_with(&expected), "{err}");
}

#[test]
fn allowlist_capacity() {
    assert_eq!((MAX_SPEC_ADDRESSES, MAX_SPEC_CIDRS), (64_512, 4_096));
    assert_capacity(nth_v4, "IPv4", "addresses", MAX_SPEC_ADDRESSES);
    let v6 = |i| format!("2001:db8::{i:x}");
    assert_capacity(v6, "IPv6", "addresses", MAX_SPEC_ADDRESSES);
    let v4_net = |i| format!("{}/24", nth_v4(i * 256));
    assert_capacity(v4_net, "IPv4", "CIDRs", MAX_SPEC_CIDRS);
    let v6_net = |i| format!("2001:db8:{i:x}::/48");
    assert_capacity(v6_net, "IPv6", "CIDRs", MAX_SPEC_CIDRS);

    // Addresses that a CIDR covers do not count.
    let mut domains: Vec<String> = (0..=MAX_SPEC_ADDRESSES).map(nth_v4).collect();
    domains.push("10.0.0.0/24".to_owned());
    NetworkSpec::new(NetworkType::Http, &domains).unwrap();
}

#[test]
fn http_port_limit() {
    assert_eq!(http_ports(&[443, 80, 443]).unwrap(), [80, 443]);
    assert_eq!(http_ports(&[]).unwrap(), [0u16; 0]);
    let eight: Vec<u16> = (1..=8).rev().chain(1..=8).collect();
    assert_eq!(http_ports(&eight).unwrap(), (1..=8).collect::<Vec<u16>>());
    let nine: Vec<u16> = (1..=9).collect();
    let err = http_ports(&nine).unwrap_err();
    assert!(
        matches!(err, SpecError::TooManyHttpPorts { count: 9, limit: 8 }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "at most 8 HTTP ports can be allowed, got 9"
    );
}
