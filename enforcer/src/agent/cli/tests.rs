use std::{collections::BTreeMap, io::Write};

use clap::Parser;
use serde_json::json;

use super::{exit_code, text, AttachArgs};
use crate::agent::{
    api::{AgentStatus, ApiError, CgroupRef, DenialRecord, EventRecord, JobRef, TaskView},
    client::ClientError,
};

/// `enforcer attach` alone, to parse its flags as the CLI does.
#[derive(Parser)]
struct Attach {
    #[command(flatten)]
    args: AttachArgs,
}

fn attach(flags: &[&str]) -> Result<AttachArgs, clap::Error> {
    Attach::try_parse_from(std::iter::once("attach").chain(flags.iter().copied()))
        .map(|attach| attach.args)
}

fn attach_line(flags: &str) -> Result<AttachArgs, clap::Error> {
    attach(&flags.split_whitespace().collect::<Vec<_>>())
}

#[test]
fn attach_sends_the_network_as_given() {
    let args = attach_line(
        "--id task-1 --pid 42 --network http --domain Example.com \
         --domain .mirror.example.com --http-port 8443 --http-port 80",
    )
    .unwrap();
    let request = args.request().unwrap();
    assert_eq!(request.id, "task-1");
    assert_eq!(request.cgroup, CgroupRef::Pid(42));
    assert_eq!(
        request.network.network,
        Some(json!({"Type": "http", "Domains": ["Example.com", ".mirror.example.com"]}))
    );
    assert_eq!(request.network.job, None);
    assert_eq!(request.network.http_ports, [80, 8443]);

    let args = attach_line("--id a --cgroup /sys/fs/cgroup/a --network none").unwrap();
    let request = args.request().unwrap();
    assert_eq!(request.cgroup, CgroupRef::Path("/sys/fs/cgroup/a".into()));
    assert_eq!(request.network.network, Some(json!({"Type": "none"})));
    assert!(request.network.http_ports.is_empty());
}

#[test]
fn attach_sends_a_job_spec_as_text() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let spec =
        "Tasks:\n  - Name: main\n    Network:\n      Type: HTTP\n      Domains: [crates.io]\n";
    file.write_all(spec.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap();
    let request = attach(&["--id", "a", "--pid", "1", "--spec", path, "--task", "main"])
        .unwrap()
        .request()
        .unwrap();
    assert_eq!(request.network.network, None);
    assert_eq!(
        request.network.job,
        Some(JobRef {
            spec: spec.to_owned(),
            task: Some("main".to_owned())
        })
    );

    let error = attach(&["--id", "a", "--pid", "1", "--spec", path, "--task", "other"])
        .unwrap()
        .request()
        .unwrap_err();
    assert!(error.contains("other"), "{error}");
}

#[test]
fn attach_checks_what_it_can_before_asking() {
    let invalid = [
        "--id .hidden --pid 1 --network none",
        "--id a --pid 1 --network http",
        "--id a --pid 1 --network none --domain example.com",
        "--id a --pid 1 --network wifi",
        "--id a --pid 1 --network http --domain http://x.com/",
        "--id a --pid 1 --spec /nonexistent/job.yaml",
        "--id a --pid 1 --network none --task t",
        "--id a --pid 1 --spec job.yaml --domain example.com",
        "--id a --pid 1 --network none --http-port 1 --http-port 2 --http-port 3 \
         --http-port 4 --http-port 5 --http-port 6 --http-port 7 --http-port 8 --http-port 9",
    ];
    for flags in invalid {
        let args = attach_line(flags).unwrap_or_else(|e| panic!("{flags}: {e}"));
        assert!(args.request().is_err(), "{flags}");
    }

    let rejected_by_clap = [
        "--id a --network none",
        "--id a --pid 1 --cgroup /x --network none",
        "--id a --pid 1",
        "--id a --pid 1 --network none --spec job.yaml",
        "--id a --pid 1 --domain example.com",
        "--id a --pid 1 --network none --http-port 0",
    ];
    for flags in rejected_by_clap {
        let error = attach_line(flags).err();
        assert_eq!(error.map(|e| e.exit_code()), Some(2), "{flags}");
    }
}

#[test]
fn refusals_map_to_exit_codes() {
    let api = |status| ClientError::Api {
        status,
        body: ApiError {
            error: "x".to_owned(),
            message: "y".to_owned(),
        },
    };
    for (status, code) in [
        (400, 2),
        (422, 2),
        (404, 1),
        (409, 1),
        (405, 1),
        (500, 125),
        (503, 125),
    ] {
        assert_eq!(exit_code(&api(status)), code, "{status}");
    }
    let unreachable = ClientError::Unreachable {
        socket: "/run/x.sock".into(),
        source: std::io::ErrorKind::NotFound.into(),
    };
    assert_eq!(exit_code(&unreachable), 125);
    let timeout = ClientError::Timeout {
        socket: "/run/x.sock".into(),
        timeout: std::time::Duration::from_secs(5),
    };
    assert_eq!(exit_code(&timeout), 125);
}

fn view(id: &str, mode: &str, counters: &[(&str, u64)]) -> TaskView {
    TaskView {
        id: id.to_owned(),
        cgroup: format!("/sys/fs/cgroup/{id}").into(),
        mode: mode.to_owned(),
        domains: if mode == "http" {
            vec![".example.com".to_owned(), "crates.io".to_owned()]
        } else {
            vec![]
        },
        http_ports: vec![80, 443],
        counters: counters
            .iter()
            .map(|&(name, value)| (name.to_owned(), value))
            .collect::<BTreeMap<_, _>>(),
        since: 0,
    }
}

#[test]
fn a_task_summary_says_what_it_may_reach() {
    assert_eq!(
        text::task_summary(&view("a", "http", &[])),
        "enforced task a: http to .example.com, crates.io on ports 80, 443; cgroup /sys/fs/cgroup/a"
    );
    assert_eq!(
        text::task_summary(&view("b", "none", &[])),
        "enforced task b: none; cgroup /sys/fs/cgroup/b"
    );
}

#[test]
fn the_task_table_is_aligned() {
    let tasks = [
        view(
            "task-1",
            "http",
            &[
                ("connect_allowed", 12),
                ("connect_denied", 3),
                ("packets_denied", 7),
                ("dns_answered", 9),
                ("dns_refused", 1),
            ],
        ),
        view("long-task-name", "none", &[]),
    ];
    assert_eq!(
        text::task_table(&tasks),
        "\
ID              MODE  CONNECTS OK/REFUSED  PACKETS REFUSED  DNS OK/REFUSED  CGROUP
task-1          http  12/3                 7                9/1             /sys/fs/cgroup/task-1
long-task-name  none  0/0                  0                0/0             /sys/fs/cgroup/long-task-name
"
    );
    assert_eq!(
        text::task_table(&[]),
        "ID  MODE  CONNECTS OK/REFUSED  PACKETS REFUSED  DNS OK/REFUSED  CGROUP\n"
    );
}

#[test]
fn events_read_like_the_denial_log() {
    let connect = EventRecord {
        task: "task-1".to_owned(),
        time_ms: 1_700_000_000_123,
        denial: DenialRecord {
            hook: "connect4".to_owned(),
            reason: "port-not-allowed".to_owned(),
            protocol: "tcp".to_owned(),
            destination: Some("192.0.2.1:8080".to_owned()),
            pid: Some(17158),
            comm: Some("curl".to_owned()),
            name: None,
            qtype: None,
        },
    };
    assert_eq!(
        text::event_line(&connect),
        "22:13:20.123 task=task-1 hook=connect4 reason=port-not-allowed protocol=tcp \
         destination=192.0.2.1:8080 pid=17158 comm=\"curl\""
    );
    let dns = EventRecord {
        denial: DenialRecord {
            hook: "dns".to_owned(),
            reason: "name-not-allowed".to_owned(),
            protocol: "udp".to_owned(),
            destination: None,
            pid: None,
            comm: None,
            name: Some("blocked.example".to_owned()),
            qtype: Some("A".to_owned()),
        },
        ..connect
    };
    assert_eq!(
        text::event_line(&dns),
        "22:13:20.123 task=task-1 hook=dns reason=name-not-allowed protocol=udp \
         name=blocked.example qtype=A"
    );
}

#[test]
fn the_status_fits_a_line() {
    let status = AgentStatus {
        version: "0.1.0".to_owned(),
        tasks: 3,
        uptime_s: 3723,
        adopted: 2,
        events_lost: 0,
    };
    assert_eq!(
        text::status_line(&status),
        "agent 0.1.0: 3 task(s) (2 adopted at start), up 1h02m03s, 0 event(s) lost"
    );
}
