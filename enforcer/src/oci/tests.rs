//! Unit tests of the OCI hook's decisions.

use serde_json::json;

use super::*;

/// The state runc 1.1.5 passed a createRuntime hook on the test machine (captured).
const RUNC_CREATE_RUNTIME_STATE: &str = r#"{"ociVersion":"1.0.2-dev","id":"exp1","status":"creating","pid":7159,"bundle":"/tmp/exp","annotations":{"io.bacalhau.network.domains":"a.com,b.com","io.bacalhau.network.type":"HTTP"}}"#;

/// The state runc 1.1.5 passed a poststop hook: no pid.
const RUNC_POSTSTOP_STATE: &str = r#"{"ociVersion":"1.0.2-dev","id":"exp3","status":"stopped","bundle":"/tmp/exp","annotations":{"io.bacalhau.network.type":"none"}}"#;

/// What one row of [`decide_table`] expects.
#[derive(Debug)]
enum Want {
    Leave,
    /// Enforce this `network` JSON with these ports.
    Enforce(serde_json::Value, Vec<u16>),
    /// An error whose message contains this.
    Error(&'static str),
}

fn state(annotations: &[(&str, &str)]) -> ContainerState {
    ContainerState {
        oci_version: "1.0.2".to_owned(),
        id: "job-1_task.a".to_owned(),
        status: "creating".to_owned(),
        pid: Some(4242),
        bundle: PathBuf::from("/nonexistent/bundle"),
        annotations: Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
    }
}

fn check(state: &ContainerState, policy: UnannotatedPolicy, want: &Want) {
    let got = decide(state, policy);
    match (want, &got) {
        (Want::Leave, Ok(HookDecision::Leave)) => {}
        (Want::Enforce(network, ports), Ok(HookDecision::Enforce(request))) => {
            assert_eq!(request.id, state.id);
            assert_eq!(request.cgroup, CgroupRef::Pid(state.pid.unwrap()));
            assert_eq!(request.network.network.as_ref(), Some(network));
            assert_eq!(&request.network.http_ports, ports);
            assert_eq!(request.network.job, None);
        }
        (Want::Error(part), Err(e)) => {
            let message = e.to_string();
            assert!(
                message.contains(part),
                "{state:?}: {message:?} lacks {part:?}"
            );
            assert!(
                message.contains(&state.id),
                "names the container: {message}"
            );
        }
        _ => panic!("{state:?} under {policy}: want {want:?}, got {got:?}"),
    }
}

/// Annotations, the node's setting, and the outcome.
type Row = (Vec<(&'static str, &'static str)>, UnannotatedPolicy, Want);

#[test]
fn decide_table() {
    let none = || Want::Enforce(json!({"Type": "None"}), vec![]);
    let rows: Vec<Row> = vec![
        (vec![], UnannotatedPolicy::Skip, Want::Leave),
        (vec![], UnannotatedPolicy::None, none()),
        (
            vec![("org.other", "x")],
            UnannotatedPolicy::Skip,
            Want::Leave,
        ),
        (vec![("org.other", "x")], UnannotatedPolicy::None, none()),
        (
            vec![(ANNOTATION_TYPE, "none")],
            UnannotatedPolicy::Skip,
            none(),
        ),
        (
            vec![(ANNOTATION_TYPE, " Full ")],
            UnannotatedPolicy::None,
            Want::Enforce(json!({"Type": "Host"}), vec![]),
        ),
        (
            vec![(ANNOTATION_TYPE, "bridge")],
            UnannotatedPolicy::Skip,
            Want::Enforce(json!({"Type": "Bridge"}), vec![]),
        ),
        (
            vec![(ANNOTATION_TYPE, "DEFAULT")],
            UnannotatedPolicy::Skip,
            Want::Enforce(json!({"Type": "Default"}), vec![]),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "http"),
                (
                    ANNOTATION_DOMAINS,
                    "crates.io, *.GitHub.com\n x.github.com,,10.0.0.0/8",
                ),
            ],
            UnannotatedPolicy::Skip,
            Want::Enforce(
                json!({"Type": "HTTP", "Domains": [".github.com", "crates.io", "10.0.0.0/8"]}),
                vec![],
            ),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "HTTP"),
                (ANNOTATION_DOMAINS, "crates.io"),
                (ANNOTATION_HTTP_PORTS, "8443, 443,443"),
            ],
            UnannotatedPolicy::Skip,
            Want::Enforce(
                json!({"Type": "HTTP", "Domains": ["crates.io"]}),
                vec![443, 8443],
            ),
        ),
        (
            vec![(ANNOTATION_TYPE, "Default"), (ANNOTATION_HTTP_PORTS, "80")],
            UnannotatedPolicy::Skip,
            Want::Enforce(json!({"Type": "Default"}), vec![80]),
        ),
        (
            vec![(ANNOTATION_TYPE, "tcp")],
            UnannotatedPolicy::Skip,
            Want::Error("unknown network Type \"tcp\""),
        ),
        (
            vec![(ANNOTATION_TYPE, "")],
            UnannotatedPolicy::None,
            Want::Error("unknown network Type"),
        ),
        (
            vec![(ANNOTATION_TYPE, "HTTP")],
            UnannotatedPolicy::Skip,
            Want::Error("needs at least one entry in Domains"),
        ),
        (
            vec![(ANNOTATION_TYPE, "HTTP"), (ANNOTATION_DOMAINS, " , ")],
            UnannotatedPolicy::Skip,
            Want::Error("needs at least one entry in Domains"),
        ),
        (
            vec![(ANNOTATION_TYPE, "HTTP"), (ANNOTATION_DOMAINS, "x.com:443")],
            UnannotatedPolicy::Skip,
            Want::Error("invalid domain \"x.com:443\""),
        ),
        (
            vec![(ANNOTATION_TYPE, "None"), (ANNOTATION_DOMAINS, "x.com")],
            UnannotatedPolicy::Skip,
            Want::Error("Domains are only allowed with Type HTTP"),
        ),
        (
            vec![(ANNOTATION_DOMAINS, "x.com")],
            UnannotatedPolicy::Skip,
            Want::Error("io.bacalhau.network.domains without io.bacalhau.network.type"),
        ),
        (
            vec![(ANNOTATION_HTTP_PORTS, "443")],
            UnannotatedPolicy::None,
            Want::Error("io.bacalhau.network.http-ports without io.bacalhau.network.type"),
        ),
        (
            vec![(ANNOTATION_TYPE, "none"), (ANNOTATION_HTTP_PORTS, "443")],
            UnannotatedPolicy::Skip,
            Want::Error("only for type HTTP"),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "http"),
                (ANNOTATION_DOMAINS, "x.com"),
                (ANNOTATION_HTTP_PORTS, "443;80"),
            ],
            UnannotatedPolicy::Skip,
            Want::Error("\"443;80\" is not a TCP port"),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "http"),
                (ANNOTATION_DOMAINS, "x.com"),
                (ANNOTATION_HTTP_PORTS, "0"),
            ],
            UnannotatedPolicy::Skip,
            Want::Error("\"0\" is not a TCP port"),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "http"),
                (ANNOTATION_DOMAINS, "x.com"),
                (ANNOTATION_HTTP_PORTS, "65536"),
            ],
            UnannotatedPolicy::Skip,
            Want::Error("\"65536\" is not a TCP port"),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "http"),
                (ANNOTATION_DOMAINS, "x.com"),
                (ANNOTATION_HTTP_PORTS, ""),
            ],
            UnannotatedPolicy::Skip,
            Want::Error("is empty"),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "http"),
                (ANNOTATION_DOMAINS, "x.com"),
                (ANNOTATION_HTTP_PORTS, "1,2,3,4,5,6,7,8,9"),
            ],
            UnannotatedPolicy::Skip,
            Want::Error("io.bacalhau.network.http-ports"),
        ),
        (
            vec![
                (ANNOTATION_TYPE, "http"),
                ("io.bacalhau.network.domain", "x.com"),
            ],
            UnannotatedPolicy::Skip,
            Want::Error("unknown annotation io.bacalhau.network.domain;"),
        ),
    ];
    for (annotations, policy, want) in &rows {
        check(&state(annotations), *policy, want);
    }
}

#[test]
fn the_container_id_is_the_task_id_unchanged() {
    for id in [
        "",
        ".hidden",
        "a/b",
        "has space",
        &"x".repeat(api::MAX_ID_LEN + 1),
    ] {
        let mut bad = state(&[(ANNOTATION_TYPE, "none")]);
        bad.id = id.to_owned();
        let message = decide(&bad, UnannotatedPolicy::Skip)
            .unwrap_err()
            .to_string();
        assert!(message.contains("can't name its task"), "{id:?}: {message}");
        assert!(release_id(&bad).is_err(), "{id:?}");
    }
    let docker_like = "0123456789abcdef".repeat(4);
    let mut good = state(&[(ANNOTATION_TYPE, "none")]);
    good.id = docker_like.clone();
    assert_eq!(release_id(&good).unwrap(), docker_like);
}

#[test]
fn an_unannotated_container_on_a_skip_node_needs_no_pid_or_valid_id() {
    let mut unannotated = state(&[]);
    unannotated.pid = None;
    unannotated.id = "odd id".to_owned();
    assert_eq!(
        decide(&unannotated, UnannotatedPolicy::Skip).unwrap(),
        HookDecision::Leave
    );
}

#[test]
fn enforcing_needs_the_pid_of_the_created_container() {
    for pid in [None, Some(0)] {
        let mut stopped = state(&[(ANNOTATION_TYPE, "none")]);
        stopped.pid = pid;
        let message = decide(&stopped, UnannotatedPolicy::Skip)
            .unwrap_err()
            .to_string();
        assert!(message.contains("no pid"), "{message}");
        assert!(message.contains("createRuntime"), "{message}");
    }
}

#[test]
fn reads_the_state_runc_passes() {
    let created = read_state(RUNC_CREATE_RUNTIME_STATE.as_bytes()).unwrap();
    assert_eq!(created.status, "creating");
    assert_eq!(created.bundle, Path::new("/tmp/exp"));
    let Ok(HookDecision::Enforce(request)) = decide(&created, UnannotatedPolicy::Skip) else {
        panic!("runc's state should be enforced");
    };
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({
            "id": "exp1",
            "cgroup": {"pid": 7159},
            "network": {"Type": "HTTP", "Domains": ["a.com", "b.com"]},
        })
    );

    let stopped = read_state(RUNC_POSTSTOP_STATE.as_bytes()).unwrap();
    assert_eq!(stopped.pid, None);
    assert_eq!(release_id(&stopped).unwrap(), "exp3");
}

#[test]
fn the_state_read_is_bounded_and_checked() {
    let padded = format!(
        "{}{}",
        RUNC_CREATE_RUNTIME_STATE,
        " ".repeat(MAX_STATE_BYTES - RUNC_CREATE_RUNTIME_STATE.len())
    );
    assert!(read_state(padded.as_bytes()).is_ok(), "exactly the limit");
    let over = format!("{padded} ");
    assert!(matches!(
        read_state(over.as_bytes()),
        Err(HookError::StateTooLarge)
    ));
    for garbage in [
        "",
        "{",
        "[]",
        r#"{"id":"a"}"#,
        r#"{"ociVersion":"1","id":"a","status":"creating","pid":-1,"bundle":"/b"}"#,
    ] {
        let message = read_state(garbage.as_bytes()).unwrap_err().to_string();
        assert!(
            message.contains("not OCI state JSON"),
            "{garbage:?}: {message}"
        );
    }
    let extra =
        r#"{"ociVersion":"1.2.0","id":"a","status":"creating","pid":1,"bundle":"/b","future":1}"#;
    assert!(read_state(extra.as_bytes()).is_ok(), "unknown fields pass");
}

/// A bundle directory with this `config.json`, removed on drop.
struct TempBundle(PathBuf);

impl TempBundle {
    fn with_config(name: &str, config: &str) -> TempBundle {
        let dir = std::env::temp_dir().join(format!("enforcer-oci-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        TempBundle(dir)
    }
}

impl Drop for TempBundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn without_annotations_in_the_state_the_bundle_config_decides() {
    let bundle = TempBundle::with_config(
        "config",
        r#"{"ociVersion":"1.0.2","process":{"args":["sh"]},"annotations":{"io.bacalhau.network.type":"None"}}"#,
    );
    let mut from_config = state(&[]);
    from_config.annotations = None;
    from_config.bundle = bundle.0.clone();
    check(
        &from_config,
        UnannotatedPolicy::Skip,
        &Want::Enforce(json!({"Type": "None"}), vec![]),
    );

    // Present but empty in the state: the state is the authority, config.json is not read.
    let mut empty = from_config.clone();
    empty.annotations = Some(BTreeMap::new());
    check(&empty, UnannotatedPolicy::Skip, &Want::Leave);

    let plain = TempBundle::with_config("plain", r#"{"ociVersion":"1.0.2"}"#);
    from_config.bundle = plain.0.clone();
    check(&from_config, UnannotatedPolicy::Skip, &Want::Leave);

    let broken = TempBundle::with_config("broken", "{");
    from_config.bundle = broken.0.clone();
    check(
        &from_config,
        UnannotatedPolicy::Skip,
        &Want::Error("config.json"),
    );

    from_config.bundle = PathBuf::from("/nonexistent/bundle");
    check(
        &from_config,
        UnannotatedPolicy::Skip,
        &Want::Error("no annotations in the state, and /nonexistent/bundle/config.json"),
    );
}

#[test]
fn the_node_setting_parses() {
    for (text, want) in [
        ("skip", UnannotatedPolicy::Skip),
        (" None ", UnannotatedPolicy::None),
        ("SKIP", UnannotatedPolicy::Skip),
    ] {
        assert_eq!(text.parse::<UnannotatedPolicy>().unwrap(), want);
    }
    assert!("full".parse::<UnannotatedPolicy>().is_err());
    let from_yaml: UnannotatedPolicy = serde_yaml_ng::from_str("none").unwrap();
    assert_eq!(from_yaml, UnannotatedPolicy::None);
}

#[test]
fn the_stage_flag_takes_both_spellings() {
    use clap::ValueEnum;
    for (text, want) in [
        ("create-runtime", HookStage::CreateRuntime),
        ("createRuntime", HookStage::CreateRuntime),
        ("poststop", HookStage::Poststop),
    ] {
        assert_eq!(HookStage::from_str(text, false).unwrap(), want);
    }
}
