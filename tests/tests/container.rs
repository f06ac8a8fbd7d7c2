//! Real containers under runc: what an OCI hook of the enforcer gets to work with.

use std::{path::PathBuf, time::Duration};

use enforcer::{
    agent::api::CgroupRef,
    cgroup::cgroup2_mount,
    oci::{self, HookDecision, UnannotatedPolicy, ANNOTATION_DOMAINS, ANNOTATION_TYPE},
};
use enforcer_tests::{
    container::{cgroup2_line, cgroup2_of, runtime_available, Bundle, Container, NetworkNamespace},
    lab_or_skip,
};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_busybox_container_runs() {
    if !runtime_available() {
        return;
    }
    let mut bundle = Bundle::create("echo").unwrap();
    bundle
        .configure(|config| config.args = vec!["echo".into(), "hello".into()])
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "hello\n");
}

#[test]
fn create_runtime_hook_gets_the_annotated_state_and_a_cgroup_of_the_container() {
    if !runtime_available() {
        return;
    }
    let mut bundle = Bundle::create("state").unwrap();
    let (hook, recording) = bundle.recording_hook("record").unwrap();
    bundle
        .configure(|config| {
            config.annotations = [
                (ANNOTATION_TYPE, "HTTP"),
                (ANNOTATION_DOMAINS, "files.lab.test, .mirror.lab.test"),
                ("org.example.other", "kept"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            config.create_runtime = vec![hook];
        })
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let state = oci::read_state(recording.state().unwrap().as_bytes()).unwrap();
    assert_eq!(state.id, bundle.id());
    assert_eq!(state.status, "creating");
    assert_eq!(state.bundle, bundle.dir());
    assert_eq!(
        state.annotations.as_ref(),
        Some(&bundle.config().annotations)
    );
    let Ok(HookDecision::Enforce(request)) = oci::decide(&state, UnannotatedPolicy::Skip) else {
        panic!("an annotated container is enforced: {state:?}");
    };
    let pid = state.pid.expect("a createRuntime state has the pid");
    assert_eq!(request.cgroup, CgroupRef::Pid(pid));
    assert_eq!(request.id, bundle.id());

    let proc_cgroup = recording.proc_cgroup().unwrap();
    assert_eq!(
        cgroup2_line(&proc_cgroup),
        Some(bundle.config().cgroups_path.as_str()),
        "the container's own cgroup2 directory, not the root: {proc_cgroup}"
    );
}

#[test]
fn poststop_hook_gets_the_stopped_state_to_release() {
    if !runtime_available() {
        return;
    }
    let mut bundle = Bundle::create("poststop").unwrap();
    let (hook, recording) = bundle.recording_hook("record").unwrap();
    bundle
        .configure(|config| {
            config.annotations = [(ANNOTATION_TYPE.to_owned(), "None".to_owned())].into();
            config.poststop = vec![hook];
        })
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let state = oci::read_state(recording.state().unwrap().as_bytes()).unwrap();
    assert_eq!(state.status, "stopped");
    assert_eq!(state.pid, None);
    assert_eq!(oci::release_id(&state).unwrap(), bundle.id());
}

#[test]
fn a_failing_create_runtime_hook_keeps_the_program_from_running() {
    if !runtime_available() {
        return;
    }
    let mut bundle = Bundle::create("refused").unwrap();
    let hook = bundle
        .script_hook("refuse", "echo 'refused by the test hook' >&2\nexit 1")
        .unwrap();
    bundle
        .configure(|config| {
            config.args = ["touch", "/marker"].map(String::from).to_vec();
            config.create_runtime = vec![hook];
        })
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(!output.status.success(), "runc must fail the container");
    assert!(
        stderr(&output).contains("refused by the test hook"),
        "runc reports the hook's message: {}",
        stderr(&output)
    );
    assert!(
        !bundle.rootfs().join("marker").exists(),
        "the container's program must not have run"
    );

    // The same bundle without the hook does run it: the marker tells.
    bundle
        .configure(|config| config.create_runtime.clear())
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(bundle.rootfs().join("marker").exists());
}

#[test]
fn a_detached_container_sits_in_its_cgroup_until_deleted() {
    if !runtime_available() {
        return;
    }
    let mut bundle = Bundle::create("detached").unwrap();
    bundle
        .configure(|config| config.args = ["sleep", "30"].map(String::from).to_vec())
        .unwrap();
    let cgroup_dir: PathBuf = cgroup2_mount()
        .unwrap()
        .join(bundle.config().cgroups_path.trim_start_matches('/'));

    let container = Container::start_detached(&bundle, bundle.id()).unwrap();
    assert_eq!(
        container.status().unwrap(),
        "running",
        "{}",
        container.log()
    );
    let pid = container.pid().unwrap();
    assert_eq!(cgroup2_of(pid).unwrap(), bundle.config().cgroups_path);
    let procs = std::fs::read_to_string(cgroup_dir.join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), pid.to_string());

    container.kill("KILL").unwrap();
    container.wait_stopped(Duration::from_secs(10)).unwrap();
    drop(container);
    assert!(
        !cgroup_dir.exists(),
        "deleting removes the container's cgroup"
    );
}

#[test]
fn a_container_joins_a_lab_namespace_by_path() {
    if !runtime_available() {
        return;
    }
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let url = format!("http://{}:80/", lab.host(0));
    let mut bundle = Bundle::create("lab").unwrap();
    bundle
        .configure(|config| {
            config.network = NetworkNamespace::Join(PathBuf::from("/run/netns").join(lab.netns()));
            // busybox 1.35's `wget -T` crashes: `timeout` bounds it instead.
            config.args = ["timeout", "5", "wget", "-q", "-O", "-", &url]
                .map(String::from)
                .to_vec();
        })
        .unwrap();
    let output = Container::run(&bundle, bundle.id()).unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("hello from {}:80\n", lab.host(0)),
        "answered by the lab host, in the lab's namespace"
    );
}
