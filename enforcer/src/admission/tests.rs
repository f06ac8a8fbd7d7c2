//! Unit tests of node admission: the matcher, the policy parser, the job and probe shapes.

use std::ffi::OsString;
use std::path::Path;

use super::patterns::Patterns;
use super::*;
use crate::spec::{Domain, NetworkType, ResolvedNetworkKind as Kind};

/// A policy from YAML text, or a panic.
fn policy(yaml: &str) -> NodePolicy {
    NodePolicy::from_str_named(yaml, "node policy").unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

/// The error a policy text gives.
fn policy_error(text: &str) -> String {
    match NodePolicy::from_str_named(text, "node policy") {
        Ok(p) => panic!("{text:?} parsed: {p:?}"),
        Err(e) => e.to_string(),
    }
}

/// An HTTP spec of these domains.
fn http(domains: &[&str]) -> NetworkSpec {
    NetworkSpec::new(NetworkType::Http, domains).unwrap()
}

/// What [`matcher_table`] expects for one job domain.
#[derive(Debug, PartialEq)]
enum Want {
    Admit,
    /// Denied: this deny pattern covers the domain.
    Covered(&'static str),
    /// Denied: this deny pattern lies within the domain.
    Within(&'static str),
    /// No allow pattern covers it.
    NotAllowed,
}

fn judge_one(policy: &NodePolicy, domain: &str) -> Want {
    let spec = http(&[domain]);
    let refusals = policy.refusals(&spec, Kind::None);
    match refusals.as_slice() {
        [] => Want::Admit,
        [Refusal::Denied {
            pattern,
            pattern_within,
            ..
        }] => {
            let shown = Box::leak(pattern.to_string().into_boxed_str());
            if *pattern_within {
                Want::Within(shown)
            } else {
                Want::Covered(shown)
            }
        }
        [Refusal::NotAllowed { .. }] => Want::NotAllowed,
        other => panic!("{domain}: {other:?}"),
    }
}

#[test]
fn matcher_table() {
    use Want::{Admit, Covered, NotAllowed, Within};
    #[rustfmt::skip]
    let rows: &[(&[&str], &[&str], &str, Want)] = &[
        // (allow_domains, deny_domains, the job's domain, verdict)
        (&[], &[], "anything.example.com", Admit),
        (&[], &[], ".example.com", Admit),
        (&[], &[], "0.0.0.0/0", Admit),
        // A wildcard deny covers its apex and every name below it, at a label boundary.
        (&[], &[".example.com"], "example.com", Covered(".example.com")),
        (&[], &[".example.com"], "a.b.example.com", Covered(".example.com")),
        (&[], &["*.example.com"], "a.example.com", Covered(".example.com")),
        (&[], &[".example.com"], "notexample.com", Admit),
        (&[], &[".example.com"], "example.com.evil.org", Admit),
        (&[], &[".example.com"], ".a.example.com", Covered(".example.com")),
        (&[], &[".example.com"], ".example.com", Covered(".example.com")),
        // Case and a trailing dot, on either side.
        (&[], &["EXAMPLE.com."], "example.com", Covered("example.com")),
        (&[], &[".Example.COM"], "WWW.example.com.", Covered(".example.com")),
        (&[], &["secret.example.com"], "*.Example.COM.", Within("secret.example.com")),
        // A job wildcard is refused when a deny pattern lies within it.
        (&[], &["secret.example.com"], ".example.com", Within("secret.example.com")),
        (&[], &["example.com"], ".example.com", Within("example.com")),
        (&[], &[".a.example.com"], ".example.com", Within(".a.example.com")),
        (&[], &["x.y.z.example.com"], ".example.com", Within("x.y.z.example.com")),
        (&[], &["example.com"], "www.example.com", Admit),
        (&[], &["secret.example.com"], ".other.example.com", Admit),
        (&[], &["secret.example.com"], "example.com", Admit),
        // A wildcard over a top-level domain (a policy may give one, a job may not).
        (&[], &[".example"], "evil.example", Covered(".example")),
        (&[], &["*.example"], ".a.evil.example", Covered(".example")),
        (&[], &[".example"], "example.com", Admit),
        // Allow: the job's domain must be covered whole.
        (&[".example.com"], &[], "example.com", Admit),
        (&[".example.com"], &[], "a.b.example.com", Admit),
        (&[".example.com"], &[], ".a.example.com", Admit),
        (&[".example.com"], &[], ".example.com", Admit),
        (&[".example.com"], &[], "other.com", NotAllowed),
        (&[".a.example.com"], &[], ".example.com", NotAllowed),
        (&["www.example.com"], &[], ".www.example.com", NotAllowed),
        (&["www.example.com"], &[], "www.example.com", Admit),
        (&["www.example.com"], &[], "a.www.example.com", NotAllowed),
        (&[".com"], &[], ".example.com", Admit),
        // Deny wins over allow.
        (&[".example.com"], &["bad.example.com"], ".example.com", Within("bad.example.com")),
        (&[".example.com"], &["bad.example.com"], "good.example.com", Admit),
        (&[".example.com"], &["bad.example.com"], "bad.example.com", Covered("bad.example.com")),
        // CIDRs and addresses.
        (&[], &["10.0.0.0/8"], "10.1.2.3", Covered("10.0.0.0/8")),
        (&[], &["10.0.0.0/8"], "10.1.0.0/16", Covered("10.0.0.0/8")),
        (&[], &["10.0.0.0/8"], "10.0.0.0/8", Covered("10.0.0.0/8")),
        (&[], &["10.0.0.0/8"], "10.0.0.0/7", Within("10.0.0.0/8")),
        (&[], &["10.0.0.0/8"], "0.0.0.0/0", Within("10.0.0.0/8")),
        (&[], &["10.0.0.0/8"], "11.0.0.1", Admit),
        (&[], &["10.0.0.0/8"], "::ffff:10.9.9.9", Covered("10.0.0.0/8")),
        (&[], &["10.1.2.3"], "10.0.0.0/8", Within("10.1.2.3")),
        (&[], &["10.1.2.3"], "10.1.2.3", Covered("10.1.2.3")),
        (&[], &["10.1.2.3/32"], "10.1.2.2/31", Within("10.1.2.3")),
        (&[], &["10.1.2.3"], "10.1.2.4/30", Admit),
        (&[], &["::ffff:10.1.2.3"], "10.1.2.3", Covered("10.1.2.3")),
        (&[], &["0.0.0.0/0"], "203.0.113.9", Covered("0.0.0.0/0")),
        (&[], &["fd00::/8"], "fd12::1", Covered("fd00::/8")),
        (&[], &["fd00::/8"], "::/0", Within("fd00::/8")),
        (&[], &["FD00::1"], "fd00::/64", Within("fd00::1")),
        (&[], &["fd00::/8"], "fe80::/10", Admit),
        // Families never overlap.
        (&[], &["10.0.0.0/8"], "fd00::/8", Admit),
        (&[], &["::/0"], "10.0.0.1", Admit),
        (&["::/0"], &[], "10.0.0.1", NotAllowed),
        (&["192.0.2.0/24"], &[], "192.0.2.7", Admit),
        (&["192.0.2.0/24"], &[], "192.0.2.128/25", Admit),
        (&["192.0.2.0/24"], &[], "192.0.2.0/24", Admit),
        (&["192.0.2.0/25"], &[], "192.0.2.0/24", NotAllowed),
        (&["192.0.2.7"], &[], "192.0.2.6/31", NotAllowed),
        // Names are not resolved here: address patterns judge addresses, name patterns names.
        (&[".example.com"], &[], "10.0.0.1", NotAllowed),
        (&["0.0.0.0/0", "::/0"], &[], "example.com", NotAllowed),
        (&[], &["10.0.0.0/8"], "example.com", Admit),
        (&[], &[".example.com"], "10.0.0.1", Admit),
    ];
    for (allow, deny, domain, want) in rows {
        let yaml = format!("allow_domains: {allow:?}\ndeny_domains: {deny:?}\n");
        let got = judge_one(&policy(&yaml), domain);
        assert_eq!(
            &got, want,
            "allow {allow:?} deny {deny:?}, job domain {domain}"
        );
    }
}

/// A tiny deterministic generator (xorshift) for the property test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    /// A random domain entry over a small vocabulary, so that relations are frequent.
    fn domain(&mut self) -> Domain {
        let text = match self.next() % 4 {
            0 | 1 => {
                let depth = 1 + self.next() % 3;
                let mut name = self
                    .pick(&["example.com", "example.org", "com.example"])
                    .to_owned();
                for _ in 1..depth {
                    name = format!("{}.{name}", self.pick(&["a", "b", "www"]));
                }
                if self.next().is_multiple_of(2) {
                    format!(".{name}")
                } else {
                    name
                }
            }
            2 => {
                let len = [0, 8, 15, 16, 24, 30, 31, 32][(self.next() % 8) as usize];
                let addr =
                    u32::from_be_bytes([10, (self.next() % 4) as u8, 0, (self.next() % 4) as u8]);
                let net = addr & u32::MAX.checked_shl(32 - len).unwrap_or(0);
                format!("{}/{len}", std::net::Ipv4Addr::from(net))
            }
            _ => {
                let len = [0, 8, 64, 120, 127, 128][(self.next() % 6) as usize];
                let addr = (0xfd00u128 << 112) | u128::from(self.next() % 4);
                let net = addr & u128::MAX.checked_shl(128 - len).unwrap_or(0);
                format!("{}/{len}", std::net::Ipv6Addr::from(net))
            }
        };
        Domain::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }
}

/// The index answers exactly what a loop over [`Domain::covers`] answers.
#[test]
fn patterns_index_agrees_with_covers() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..300 {
        let count = (rng.next() % 6) as usize;
        let list: Vec<Domain> = (0..count).map(|_| rng.domain()).collect();
        let patterns = Patterns::new(list.clone());
        for _ in 0..30 {
            let job = rng.domain();
            let covering = patterns.covering(&job);
            assert_eq!(
                covering.is_some(),
                list.iter().any(|p| p.covers(&job)),
                "covering {job} in {list:?}: {covering:?}"
            );
            if let Some(p) = covering {
                assert!(p.covers(&job), "{p} does not cover {job}");
            }
            let within = patterns.within(&job);
            assert_eq!(
                within.is_some(),
                list.iter().any(|p| job.covers(p)),
                "within {job} in {list:?}: {within:?}"
            );
            if let Some(p) = within {
                assert!(job.covers(p), "{p} is not within {job}");
            }
        }
    }
}

#[test]
fn types_and_default() {
    let p = policy("types: [none, HTTP]\n");
    let none = NetworkSpec::new(NetworkType::None, &[] as &[&str]).unwrap();
    let host = NetworkSpec::new(NetworkType::Host, &[] as &[&str]).unwrap();
    let bridge = NetworkSpec::new(NetworkType::Bridge, &[] as &[&str]).unwrap();
    let default = NetworkSpec::default();
    assert!(p.refusals(&none, Kind::None).is_empty());
    assert!(p.refusals(&http(&["a.com"]), Kind::None).is_empty());
    assert_eq!(
        p.refusals(&host, Kind::None)[0].to_string(),
        "type Host is not accepted (node policy types: None, HTTP)"
    );
    // Default is judged as what the node makes it.
    assert!(p.refusals(&default, Kind::None).is_empty());
    assert!(p.refusals(&default, Kind::Http).is_empty());
    let refused = p.refusals(&default, Kind::Full);
    assert_eq!(
        refused,
        [Refusal::Type {
            declared: NetworkType::Default,
            effective: NetworkType::Host,
            default: Kind::Full,
            accepted: vec![NetworkType::None, NetworkType::Http],
        }]
    );
    assert!(refused[0]
        .to_string()
        .contains("Default means Full on this node"));

    // Full is Host; Bridge is a type of its own.
    let p = policy("types: [FULL]\n");
    assert!(p.refusals(&host, Kind::None).is_empty());
    assert!(p.refusals(&default, Kind::Full).is_empty());
    assert_eq!(p.refusals(&bridge, Kind::None).len(), 1);
    assert_eq!(p.types(), Some(&[NetworkType::Host][..]));

    // An empty list accepts no type; no list accepts every one.
    let p = policy("types: []\n");
    assert_eq!(p.refusals(&none, Kind::None).len(), 1);
    assert!(p.refusals(&none, Kind::None)[0]
        .to_string()
        .contains("types: none"));
    let p = policy("{}");
    for spec in [&none, &host, &bridge, &default] {
        assert!(p.refusals(spec, Kind::Full).is_empty());
    }
}

#[test]
fn max_domains_counts_after_deduplication() {
    let p = policy("max_domains: 2\n");
    assert!(p
        .refusals(
            &http(&["a.com", "x.b.com", ".b.com", "y.b.com"]),
            Kind::None
        )
        .is_empty());
    let refused = p.refusals(&http(&["a.com", "b.com", "c.com"]), Kind::None);
    assert_eq!(refused, [Refusal::TooManyDomains { count: 3, max: 2 }]);
    assert_eq!(
        refused[0].to_string(),
        "3 domains (after deduplication) are more than node policy max_domains 2"
    );
    let p = policy("max_domains: 0\n");
    assert!(p
        .refusals(
            &NetworkSpec::new(NetworkType::None, &[] as &[&str]).unwrap(),
            Kind::None
        )
        .is_empty());
    assert_eq!(p.refusals(&http(&["a.com"]), Kind::None).len(), 1);
}

#[test]
fn policy_parser() {
    // YAML and JSON, normalized.
    let p = policy(
        "types: [None, Http, full, BRIDGE]\nallow_domains: ['*.Example.com', 10.0.0.0/8]\n\
         deny_domains: [secret.example.com., .onion]\nmax_domains: 10\n",
    );
    let shown = |d: &[Domain]| d.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(shown(p.allow_domains()), [".example.com", "10.0.0.0/8"]);
    assert_eq!(shown(p.deny_domains()), ["secret.example.com", ".onion"]);
    assert_eq!(p.max_domains(), Some(10));
    let j = policy(r#"{"types": ["None"], "deny_domains": [".example"], "max_domains": 1}"#);
    assert_eq!(j.types(), Some(&[NetworkType::None][..]));
    assert_eq!(shown(j.deny_domains()), [".example"]);
    let empty = policy("{}");
    assert_eq!(empty.types(), None);
    assert!(empty.allow_domains().is_empty() && empty.max_domains().is_none());

    for (text, wanted) in [
        // Unknown keys: a typo must not leave a rule out.
        (
            "deny_domain: [.example.com]\n",
            "unknown field `deny_domain`",
        ),
        ("types: [None]\nTypes: [Host]\n", "unknown field `Types`"),
        (
            r#"{"allow_domains": [], "maxdomains": 3}"#,
            "unknown field `maxdomains`",
        ),
        // Bad types.
        ("types: [None, tcp]\n", "unknown network Type \"tcp\""),
        ("types: [Default]\n", "--default-network"),
        ("types: None\n", "invalid type"),
        ("types: [1]\n", "unknown network Type \"1\""),
        // Bad domains and numbers.
        (
            "deny_domains: ['http://x.com']\n",
            "deny_domains: invalid domain",
        ),
        (
            "allow_domains: [a..b.com]\n",
            "allow_domains: invalid domain",
        ),
        ("allow_domains: [localhost]\n", "single label"),
        ("deny_domains: ['.']\n", "wildcard needs a domain"),
        ("max_domains: -1\n", "max_domains"),
        ("max_domains: many\n", "max_domains"),
        // Not a policy at all.
        ("", "it is empty"),
        ("   \n", "it is empty"),
        ("[None]\n", "node policy"),
        ("{\"types\": [\n", "not valid JSON"),
    ] {
        let error = policy_error(text);
        assert!(error.starts_with("node policy: "), "{text:?}: {error}");
        assert!(error.contains(wanted), "{text:?}: {error} lacks {wanted:?}");
    }

    // Bounded as job specs are.
    let huge = format!("deny_domains: [{}]\n", "a.com, ".repeat(200_000));
    assert!(policy_error(&huge).contains("the most a node policy may have"));
    let deep = format!("types: {}{}\n", "[".repeat(100), "]".repeat(100));
    assert!(policy_error(&deep).contains("levels deep"));
}

#[test]
fn policy_from_file() {
    let path = std::env::temp_dir().join(format!("enforcer-policy-{}.yaml", std::process::id()));
    std::fs::write(&path, "types: [None]\n").unwrap();
    let p = NodePolicy::from_file(&path).unwrap();
    assert_eq!(p.types(), Some(&[NetworkType::None][..]));
    std::fs::write(&path, "tpyes: [None]\n").unwrap();
    let error = NodePolicy::from_file(&path).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("node policy {}: ", path.display())),
        "{error}"
    );
    std::fs::remove_file(&path).unwrap();
    let error = NodePolicy::from_file(&path).unwrap_err().to_string();
    assert!(error.starts_with("could not read node policy"), "{error}");
}

/// The networks of a job text, as `(task, spec)` strings.
fn networks(text: &str, task: Option<&str>) -> Vec<(Option<String>, String)> {
    job_networks(text, task, "probe data")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .into_iter()
        .map(|n| (n.task, n.spec.to_string()))
        .collect()
}

fn job_error(text: &str, task: Option<&str>) -> String {
    match job_networks(text, task, "probe data") {
        Ok(n) => panic!("{text}: parsed {n:?}"),
        Err(e) => e.to_string(),
    }
}

fn named(name: &str, spec: &str) -> (Option<String>, String) {
    (Some(name.to_owned()), spec.to_owned())
}

#[test]
fn probe_input_shapes() {
    // Bacalhau's job model, at the top (a job spec).
    let job = r#"{"Name": "j", "Type": "batch", "Tasks": [
        {"Name": "fetch", "Engine": {"Type": "docker"},
         "Network": {"Type": "HTTP", "Domains": ["crates.io", "*.GitHub.com"], "Ports": []}},
        {"Name": "quiet", "Network": {"Type": "None"}},
        {"Name": "plain"},
        {"Name": "nulls", "Network": {"Type": null, "Domains": null}},
        {"Network": {"Type": ""}}]}"#;
    let all = vec![
        named("fetch", "HTTP [.github.com, crates.io]"),
        named("quiet", "None"),
        named("plain", "Default"),
        named("nulls", "Default"),
        named("(unnamed task 5)", "Default"),
    ];
    assert_eq!(networks(job, None), all);
    assert_eq!(networks(job, Some("quiet")), [named("quiet", "None")]);

    // Current compute nodes' probe data: the job under Job.
    let probe = format!(r#"{{"NodeID": "node-1", "Job": {job}}}"#);
    assert_eq!(networks(&probe, None), all);
    // Keys in any case, at every level.
    let lower = r#"{"nodeid": "n", "job": {"tasks": [
        {"name": "a", "network": {"type": "http", "domains": ["A.example.COM."]}},
        {"NAME": "b", "NETWORK": {"TYPE": "host"}}]}}"#;
    assert_eq!(
        networks(lower, None),
        [named("a", "HTTP [a.example.com]"), named("b", "Host")]
    );
    // Go's folding: the long s and the Kelvin sign are an s and a k.
    let folded = "{\"Ta\u{17f}ks\": [{\"Name\": \"a\", \"Networ\u{212a}\": {\"Type\": \"Host\"}}]}";
    assert_eq!(networks(folded, None), [named("a", "Host")]);
    let twice = "{\"Tasks\": [{\"Network\": {}, \"Networ\u{212a}\": {}}]}";
    assert!(job_error(twice, None).contains("both Tasks[0]."));
    // The older job model: Spec.Network, at the top (older probe data) or under Job.
    let legacy = r#"{"node_id": "n", "job_id": "j", "spec": {"Engine": "Docker",
        "Network": {"Type": "HTTP", "Domains": ["example.com"]}}}"#;
    assert_eq!(
        networks(legacy, None),
        [(None, "HTTP [example.com]".to_owned())]
    );
    let legacy_job = r#"{"Job": {"APIVersion": "V1beta1", "Spec": {"network": {"type": "Full"}}}}"#;
    assert_eq!(networks(legacy_job, None), [(None, "Host".to_owned())]);
    assert_eq!(
        networks(r#"{"Spec": {}}"#, None),
        [(None, "Default".to_owned())]
    );
    // YAML, as a job spec file is.
    let yaml =
        "Name: j\nTasks:\n  - Name: a\n    network:\n      type: HTTP\n      domains: [x.com]\n";
    assert_eq!(networks(yaml, None), [named("a", "HTTP [x.com]")]);
    let yaml = "Job:\n  Spec:\n    Network: {Type: None}\n";
    assert_eq!(networks(yaml, None), [(None, "None".to_owned())]);
    // Top-level Tasks win over Job (as for `enforcer run --spec`).
    let both = r#"{"Tasks": [{"Name": "top"}], "Job": {"Tasks": [{"Name": "inner"}]}}"#;
    assert_eq!(networks(both, None), [named("top", "Default")]);

    for (text, task, wanted) in [
        ("{}", None, "has no Tasks"),
        (r#"{"NodeID": "n"}"#, None, "has no Tasks"),
        (r#"{"Job": {"Tasks": []}}"#, None, "has no Tasks"),
        (r#"{"Job": {"Tasks": null}}"#, None, "has no Tasks"),
        (r#"{"Job": "x"}"#, None, "Job must be a mapping"),
        (r#"{"Tasks": {"Name": "a"}}"#, None, "Tasks must be a list"),
        (r#"{"Tasks": ["a"]}"#, None, "Tasks[0] must be a mapping"),
        (
            r#"{"Tasks": [{"Name": 3}]}"#,
            None,
            "Tasks[0].Name must be a string",
        ),
        (
            r#"{"Tasks": [{"Network": "HTTP"}]}"#,
            None,
            "Tasks[0].Network must be a mapping",
        ),
        (
            r#"{"Tasks": [{"Network": {"Type": 2}}]}"#,
            None,
            "Type must be a string",
        ),
        (
            r#"{"Job": {"Tasks": [{"Network": {"Type": "HTTP", "Domains": "a.com"}}]}}"#,
            None,
            "Job.Tasks[0].Network.Domains must be a list of strings",
        ),
        (
            r#"{"Tasks": [{"Network": {"Type": "HTTP", "Domains": [1]}}]}"#,
            None,
            "list of strings",
        ),
        (
            r#"{"Tasks": [{"Network": {"Type": "tcp"}}]}"#,
            None,
            "unknown network Type",
        ),
        (
            r#"{"Tasks": [{"Name": "a", "Network": {"Type": "HTTP", "Domains": ["x.com:443"]}}]}"#,
            None,
            "in probe data, task \"a\": invalid domain",
        ),
        (
            r#"{"Tasks": [{"Name": "a"}, {"Name": "b", "Network": {"Type": "None", "Domains": ["x.com"]}}]}"#,
            None,
            "task \"b\": Domains are only allowed with Type HTTP",
        ),
        (
            r#"{"Spec": {"Network": {"Type": "HTTP"}}}"#,
            None,
            "in probe data, Spec.Network: Type HTTP needs at least one entry",
        ),
        (
            r#"{"Tasks": [{"Name": "a", "Network": {}, "network": {}}]}"#,
            None,
            "both Tasks[0].Network and Tasks[0].network",
        ),
        (
            r#"{"Job": {"Tasks": [], "TASKS": []}}"#,
            None,
            "both Job.TASKS and Job.Tasks",
        ),
        (r#"{"Tasks": [], "Spec": {}}"#, None, "both Tasks and Spec"),
        (
            r#"{"Tasks": [{"Name": "a"}]}"#,
            Some("b"),
            "no task named \"b\"",
        ),
        (
            r#"{"Tasks": [{"Name": "a"}, {"Name": "a"}]}"#,
            Some("a"),
            "2 tasks named \"a\"",
        ),
        (
            r#"{"Spec": {"Network": {"Type": "None"}}}"#,
            Some("a"),
            "older Spec.Network",
        ),
        ("[1, 2]", None, "expected a mapping"),
        ("", None, "the text is empty"),
        ("{\"Tasks\": [", None, "not valid JSON"),
        ("Tasks: [\n", None, "not valid YAML"),
    ] {
        let error = job_error(text, task);
        assert!(error.contains(wanted), "{text}: {error} lacks {wanted:?}");
    }

    // Bounded as job specs are.
    let deep = format!("{{\"Tasks\": {}{}}}", "[".repeat(100), "]".repeat(100));
    assert!(job_error(&deep, None).contains("levels deep"));
    let huge = format!(
        "{{\"Tasks\": [], \"x\": \"{}\"}}",
        "a".repeat(crate::spec::MAX_SPEC_BYTES)
    );
    assert!(job_error(&huge, None).contains("larger than"));
}

#[test]
fn input_source_rule() {
    let env = || Some(OsString::from("{}"));
    assert_eq!(
        Source::choose(Some(Path::new("job.yaml")), env()),
        Source::File("job.yaml".into())
    );
    assert_eq!(Source::choose(Some(Path::new("-")), env()), Source::Stdin);
    assert_eq!(
        Source::choose(None, env()),
        Source::Env(OsString::from("{}"))
    );
    assert_eq!(
        Source::choose(None, Some(OsString::new())),
        Source::Env(OsString::new())
    );
    assert_eq!(Source::choose(None, None), Source::Stdin);
    assert_eq!(
        Source::Env(OsString::new()).origin(),
        "probe data in BACALHAU_JOB_SELECTION_PROBE_DATA"
    );
    assert_eq!(
        Source::Env(OsString::from("{\"Tasks\": []}"))
            .read()
            .unwrap(),
        "{\"Tasks\": []}"
    );
}

#[test]
fn verdicts() {
    let job = r#"{"Tasks": [
        {"Name": "ok", "Network": {"Type": "HTTP", "Domains": ["crates.io"]}},
        {"Name": "bad", "Network": {"Type": "HTTP", "Domains": ["evil.example", "10.0.0.1"]}}]}"#;
    let tasks = job_networks(job, None, "job").unwrap();
    let p = policy("deny_domains: [.example, 10.0.0.0/8]\n");
    let verdict = admit(Some(&p), &tasks, Kind::None);
    assert!(!verdict.accept);
    assert_eq!(
        verdict.reasons,
        [
            "task \"bad\": domain evil.example is denied: node policy deny_domains entry .example covers it",
            "task \"bad\": domain 10.0.0.1 is denied: node policy deny_domains entry 10.0.0.0/8 covers it",
        ]
    );
    assert_eq!(
        verdict.to_json(),
        format!(
            "{{\"accept\":false,\"reasons\":{}}}\n",
            serde_json::to_string(&verdict.reasons).unwrap()
        )
    );
    let text = verdict.to_text();
    assert!(text.starts_with("reject: "), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");

    // Every task must be admitted; one task alone may be.
    let only_ok = job_networks(job, Some("ok"), "job").unwrap();
    let verdict = admit(Some(&p), &only_ok, Kind::None);
    assert!(verdict.accept);
    assert_eq!(
        verdict.reasons,
        ["task \"ok\": network HTTP [crates.io] admitted"]
    );

    // No policy admits every valid spec.
    let verdict = admit(None, &tasks, Kind::Full);
    assert!(verdict.accept);
    assert_eq!(
        verdict.reasons[0],
        "no node policy: every valid network spec is admitted"
    );
    assert!(verdict.to_text().starts_with("accept: "));
    let default = job_networks(r#"{"Spec": {}}"#, None, "job").unwrap();
    assert_eq!(
        admit(None, &default, Kind::Full).reasons[1],
        "network Default admitted (enforced as Full)"
    );

    // Domain refusals are listed up to a bound per task, the rest counted.
    let many: Vec<String> = (0..30).map(|i| format!("h{i}.example")).collect();
    let spec = NetworkSpec::new(NetworkType::Http, &many).unwrap();
    let task = TaskNetwork {
        task: Some("t".into()),
        spec,
    };
    let p = policy("deny_domains: [.example]\nmax_domains: 5\n");
    let verdict = admit(Some(&p), &[task], Kind::None);
    assert_eq!(verdict.reasons.len(), 1 + MAX_DOMAIN_REASONS + 1);
    assert!(verdict.reasons[0].contains("max_domains 5"));
    assert_eq!(
        verdict.reasons.last().unwrap(),
        "task \"t\": 10 more domains are not admitted (not listed)"
    );
}

#[test]
fn check_task_for_run() {
    let path =
        std::env::temp_dir().join(format!("enforcer-run-policy-{}.yaml", std::process::id()));
    std::fs::write(&path, "deny_domains: [.example]\n").unwrap();
    assert!(check_task(&path, &http(&["crates.io"]), Kind::None).is_ok());
    let error = check_task(&path, &http(&["evil.example", "a.example"]), Kind::None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the node policy does not admit this task: domain a.example is denied: node policy \
         deny_domains entry .example covers it; domain evil.example is denied: node policy \
         deny_domains entry .example covers it"
    );
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        check_task(&path, &http(&["crates.io"]), Kind::None),
        Err(AdmitError::Read { .. })
    ));
}
