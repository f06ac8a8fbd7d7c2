//! The files under deploy/ parse, and say what the agent and the hook need.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use clap::ValueEnum;
use enforcer::{
    agent::api::DEFAULT_SOCKET,
    oci::{HookStage, UnannotatedPolicy, ANNOTATION_PREFIX},
};
use serde_yaml_ng::Value as Yaml;

/// Every key of the agent's config file.
const AGENT_KEYS: [&str; 8] = [
    "socket",
    "group",
    "upstream",
    "default_network",
    "http_ports",
    "allow_internal",
    "dns_min_ttl_s",
    "max_tasks",
];

const ENFORCER_BIN: &str = "/usr/local/bin/enforcer";
const AGENT_CONFIG: &str = "/etc/enforcer/agent.yaml";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a YAML text.
fn yaml_documents(text: &str, origin: &Path) -> Vec<Yaml> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: {e}", origin.display()))
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn keys(mapping: &Yaml) -> BTreeSet<String> {
    mapping
        .as_mapping()
        .expect("a mapping")
        .keys()
        .map(|key| key.as_str().expect("string keys").to_owned())
        .collect()
}

#[test]
fn every_yaml_file_parses() {
    let yaml_files: Vec<PathBuf> = files_under(&deploy_dir())
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    assert!(yaml_files.len() >= 3, "{yaml_files:?}");
    for path in yaml_files {
        let documents = yaml_documents(&std::fs::read_to_string(&path).unwrap(), &path);
        assert!(
            documents.iter().all(Yaml::is_mapping),
            "{}: every document is a mapping",
            path.display()
        );
    }
}

#[test]
fn the_agent_config_shows_every_key() {
    let config: Yaml = serde_yaml_ng::from_str(&read("agent.yaml")).unwrap();
    let want: BTreeSet<String> = AGENT_KEYS.iter().map(ToString::to_string).collect();
    assert_eq!(keys(&config), want);
    assert_eq!(config["socket"].as_str(), Some(DEFAULT_SOCKET));
    let policy: UnannotatedPolicy =
        serde_yaml_ng::from_value(config["default_network"].clone()).unwrap();
    assert_eq!(policy, UnannotatedPolicy::Skip);
}

/// `Key=Value` lines of a systemd unit (sections and comments left out).
fn unit_settings(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .collect()
}

#[test]
fn the_systemd_unit_runs_the_daemon_and_lets_enforcement_outlive_it() {
    let text = read("systemd/enforcer.service");
    let settings = unit_settings(&text);
    let value = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {key}="))
    };
    assert_eq!(
        value("ExecStart"),
        format!("{ENFORCER_BIN} daemon --config {AGENT_CONFIG}")
    );
    for (key, want) in [
        ("Type", "simple"),
        ("Restart", "always"),
        ("KillMode", "process"),
        ("RuntimeDirectory", "enforcer"),
        ("RuntimeDirectoryPreserve", "yes"),
        ("LimitMEMLOCK", "infinity"),
    ] {
        assert_eq!(value(key), want, "{key}");
    }
    let caps: BTreeSet<&str> = value("CapabilityBoundingSet").split(' ').collect();
    for cap in ["CAP_BPF", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_PERFMON"] {
        assert!(caps.contains(cap), "{cap} missing from {caps:?}");
    }
    // A network or mount namespace of the service's own would hide the host's from it.
    for own_namespace in [
        "PrivateNetwork",
        "PrivateTmp",
        "PrivateMounts",
        "PrivateDevices",
        "ProtectSystem",
        "ProtectHome",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "TemporaryFileSystem",
        "MountFlags",
    ] {
        assert!(
            settings.iter().all(|(key, _)| *key != own_namespace),
            "{own_namespace}= must not be set"
        );
    }
}

/// Stage names of the OCI runtime spec that hooks.d files may list.
const OCI_STAGES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

fn hook_file(name: &str) -> serde_json::Value {
    serde_json::from_str(&read(&format!("oci/{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Checks what podman's and CRI-O's loader require of a hooks.d file (version, an absolute
/// path, valid stages, at least one `when` condition) and that it runs `enforcer oci-hook`
/// at its stage; returns its `when`.
fn check_hook_file(name: &str, stage: &str, want_stage: HookStage) -> serde_json::Value {
    let file = hook_file(name);
    assert_eq!(file["version"], "1.0.0", "{name}");
    assert_eq!(file["hook"]["path"], ENFORCER_BIN, "{name}");
    assert_eq!(file["stages"], serde_json::json!([stage]), "{name}");
    assert!(OCI_STAGES.contains(&stage));
    assert!(
        file["hook"]["timeout"].as_u64().is_some_and(|t| t > 0),
        "{name}"
    );

    let args: Vec<&str> = file["hook"]["args"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: args"))
        .iter()
        .map(|arg| arg.as_str().expect("string args"))
        .collect();
    assert_eq!(args[..2], ["enforcer", "oci-hook"], "{name}");
    let flag = |flag: &str| {
        let at = args.iter().position(|arg| *arg == flag);
        at.and_then(|at| args.get(at + 1).copied())
            .unwrap_or_else(|| panic!("{name}: no {flag} VALUE in {args:?}"))
    };
    assert_eq!(flag("--config"), AGENT_CONFIG, "{name}");
    assert_eq!(
        HookStage::from_str(flag("--stage"), false),
        Ok(want_stage),
        "{name}"
    );

    let when = file["when"].clone();
    let conditions = ["always", "annotations", "commands", "hasBindMounts"];
    assert!(
        conditions.iter().any(|c| !when[c].is_null()),
        "{name}: podman needs at least one `when` condition"
    );
    when
}

#[test]
fn the_oci_hook_files_are_what_podman_loads() {
    let annotated = check_hook_file(
        "enforcer-hook.json",
        "createRuntime",
        HookStage::CreateRuntime,
    );
    // Any key under the prefix, so that a misspelt one or domains without a type reach
    // the hook and are refused.
    let key_pattern = format!("^{}", ANNOTATION_PREFIX.replace('.', "\\."));
    assert_eq!(
        annotated["annotations"],
        serde_json::json!({ key_pattern: ".*" })
    );
    assert!(annotated["always"].is_null());

    for (name, stage, want_stage) in [
        (
            "enforcer-hook-always.json",
            "createRuntime",
            HookStage::CreateRuntime,
        ),
        (
            "enforcer-hook-poststop.json",
            "poststop",
            HookStage::Poststop,
        ),
    ] {
        let when = check_hook_file(name, stage, want_stage);
        assert_eq!(when, serde_json::json!({"always": true}), "{name}");
    }
}

fn daemonset() -> Yaml {
    let path = deploy_dir().join("kubernetes/daemonset.yaml");
    let documents = yaml_documents(&read("kubernetes/daemonset.yaml"), &path);
    let kinds: Vec<&str> = documents
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Namespace", "ConfigMap", "DaemonSet"]);
    for document in &documents[1..] {
        assert_eq!(
            document["metadata"]["namespace"].as_str(),
            Some("enforcer-system")
        );
    }
    let config: Yaml =
        serde_yaml_ng::from_str(documents[1]["data"]["agent.yaml"].as_str().unwrap()).unwrap();
    assert!(
        keys(&config)
            .iter()
            .all(|key| AGENT_KEYS.contains(&key.as_str())),
        "{config:?}"
    );
    documents[2].clone()
}

fn container<'a>(pod: &'a Yaml, list: &str, name: &str) -> &'a Yaml {
    pod[list]
        .as_sequence()
        .and_then(|containers| containers.iter().find(|c| c["name"].as_str() == Some(name)))
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

fn strings(sequence: &Yaml) -> Vec<&str> {
    sequence
        .as_sequence()
        .expect("a sequence")
        .iter()
        .map(|item| item.as_str().expect("strings"))
        .collect()
}

#[test]
fn the_daemonset_gives_the_agent_the_host() {
    let daemonset = daemonset();
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"].as_bool(), Some(true));
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    assert!(pod["terminationGracePeriodSeconds"].as_u64().is_some());

    let agent = container(pod, "containers", "agent");
    let command = strings(&agent["command"]);
    assert!(
        command.ends_with(&[ENFORCER_BIN, "daemon", "--config", AGENT_CONFIG]),
        "{command:?}"
    );
    assert_eq!(
        strings(&agent["readinessProbe"]["exec"]["command"]),
        [ENFORCER_BIN, "status"]
    );
    assert_eq!(agent["securityContext"]["privileged"].as_bool(), Some(true));

    let host_paths: Vec<(&str, &str)> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| Some((v["name"].as_str()?, v["hostPath"]["path"].as_str()?)))
        .collect();
    let volume_of = |path: &str| {
        host_paths
            .iter()
            .find(|(_, p)| *p == path)
            .map(|(name, _)| *name)
            .unwrap_or_else(|| panic!("no hostPath volume {path}"))
    };
    let mounts = agent["volumeMounts"].as_sequence().unwrap();
    let mount_of = |volume: &str| {
        mounts
            .iter()
            .find(|m| m["name"].as_str() == Some(volume))
            .unwrap_or_else(|| panic!("agent does not mount {volume}"))
    };
    for path in ["/sys/fs/bpf", "/sys/fs/cgroup", "/run/enforcer"] {
        assert_eq!(mount_of(volume_of(path))["mountPath"].as_str(), Some(path));
    }
    assert_eq!(
        mount_of(volume_of("/sys/fs/bpf"))["mountPropagation"].as_str(),
        Some("Bidirectional")
    );
}

#[test]
fn the_daemonset_installs_shipped_hook_files() {
    let daemonset = daemonset();
    let pod = &daemonset["spec"]["template"]["spec"];
    assert!(pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|v| v["hostPath"]["path"].as_str() == Some("/usr/share/containers/oci/hooks.d")));
    let install = container(pod, "initContainers", "install");
    let script = strings(&install["command"]).join(" ");
    let hook = install["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("HOOK"))
        .and_then(|e| e["value"].as_str())
        .expect("env HOOK");
    let shipped = |name: &str| deploy_dir().join("oci").join(name).is_file();
    assert!(shipped(hook), "{hook}");
    assert!(shipped("enforcer-hook-always.json"));
    for file in [
        "enforcer-hook-poststop.json",
        "/host/usr/local/bin/enforcer",
    ] {
        assert!(script.contains(file), "the install script copies {file}");
    }
    assert!(shipped("enforcer-hook-poststop.json"));
}
