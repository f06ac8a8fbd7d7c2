//! The client against the real server over a unix socket.

use std::{
    ops::ControlFlow,
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{runtime::Runtime, sync::oneshot};

use super::{path_segment, AgentClient, ClientError};
use crate::agent::{
    api::{CgroupRef, EnforceRequest, EventLine, NetworkRequest},
    fake::{event, FakeService},
    http,
    metrics::Metrics,
};

/// An agent serving the fake service on `socket` until dropped.
struct Agent {
    service: Arc<FakeService>,
    runtime: Runtime,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<crate::Result<()>>>,
}

impl Agent {
    fn start(socket: &Path) -> Agent {
        let runtime = Runtime::new().unwrap();
        let service = FakeService::new(16);
        let listener = runtime
            .block_on(async { http::bind(socket, None) })
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = runtime.spawn(http::serve(
            service.clone(),
            Arc::new(Metrics::new()),
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        Agent {
            service,
            runtime,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops the server and waits until it is done.
    fn stop(&mut self) {
        if let (Some(stop), Some(served)) = (self.stop.take(), self.served.take()) {
            stop.send(()).unwrap();
            self.runtime.block_on(served).unwrap().unwrap();
        }
    }
}

/// Waits until `readers` clients follow the events of `service`.
fn wait_for_event_readers(service: &FakeService, readers: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while service.events().receiver_count() != readers {
        assert!(
            Instant::now() < deadline,
            "still not {readers} event reader(s)"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn enforce_request(id: &str) -> EnforceRequest {
    EnforceRequest {
        id: id.to_owned(),
        cgroup: CgroupRef::Path("/sys/fs/cgroup/task".into()),
        network: NetworkRequest {
            network: Some(json!({"Type": "HTTP", "Domains": ["example.com"]})),
            job: None,
            http_ports: vec![443],
        },
    }
}

#[test]
fn the_client_drives_a_real_agent_over_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut agent = Agent::start(&socket);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o600);
    let client = AgentClient::new(&socket);

    let view = client.enforce(&enforce_request("task-1")).unwrap();
    assert_eq!((view.id.as_str(), view.mode.as_str()), ("task-1", "http"));
    assert_eq!(view.http_ports, [443]);

    let refused = client.enforce(&enforce_request("task-1")).unwrap_err();
    let ClientError::Api { status: 409, body } = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(body.error, "duplicate_id");

    let changed = NetworkRequest {
        network: Some(json!({"Type": "None"})),
        ..NetworkRequest::default()
    };
    assert_eq!(client.change("task-1", &changed).unwrap().mode, "none");
    assert_eq!(client.task("task-1").unwrap().mode, "none");
    assert_eq!(client.list().unwrap().len(), 1);
    assert_eq!(client.status().unwrap().tasks, 1);

    let metrics = client.metrics().unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line == r#"enforcer_connects_total{task="task-1",verdict="allowed"} 3"#),
        "{metrics}"
    );

    let sender = thread::spawn({
        let service = agent.service.clone();
        move || {
            wait_for_event_readers(&service, 1);
            for time_ms in [1, 2] {
                service.events().send(event("task-1", time_ms)).unwrap();
            }
        }
    });
    let mut received = Vec::new();
    client
        .events(|line| {
            received.push(line);
            match received.len() {
                2 => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        })
        .unwrap();
    sender.join().unwrap();
    assert_eq!(
        received,
        [
            EventLine::Event(event("task-1", 1)),
            EventLine::Event(event("task-1", 2)),
        ]
    );
    // The reader went away: the server notices and drops its subscription.
    wait_for_event_readers(&agent.service, 0);

    client.release("task-1").unwrap();
    let missing = client.release("task-1").unwrap_err();
    assert_eq!(missing.status().map(|s| s.as_u16()), Some(404), "{missing}");
    let bad_id = client.release("../x").unwrap_err();
    assert_eq!(bad_id.status().map(|s| s.as_u16()), Some(400), "{bad_id}");

    assert_eq!(
        agent.service.calls(),
        [
            "enforce task-1",
            "enforce task-1",
            "change task-1",
            "task task-1",
            "list",
            "status",
            "list",
            "status",
            "subscribe",
            "release task-1",
            "release task-1",
        ]
    );
    agent.stop();
}

#[test]
fn an_event_stream_ends_when_the_agent_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut agent = Agent::start(&socket);
    let reader = thread::spawn({
        let socket = socket.clone();
        move || AgentClient::new(socket).events(|_| ControlFlow::Continue(()))
    });
    wait_for_event_readers(&agent.service, 1);
    agent.stop();
    reader.join().unwrap().unwrap();
}

#[test]
fn an_absent_agent_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let error = AgentClient::new(&socket).list().unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "agent not reachable at {} (is `enforcer daemon` running?)",
            socket.display()
        )),
        "{message}"
    );
}

#[test]
fn a_silent_agent_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    // Accepts connections (the kernel's backlog) but never answers.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let client = AgentClient::new(&socket).with_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let error = client.status().unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn ids_are_sent_as_one_path_segment() {
    assert_eq!(path_segment("task-1_a.b"), "task-1_a.b");
    assert_eq!(path_segment("../x y"), "..%2Fx%20y");
    assert_eq!(path_segment("é"), "%C3%A9");
}
