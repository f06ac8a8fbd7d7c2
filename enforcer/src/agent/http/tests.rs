use std::{
    os::unix::{
        fs::{MetadataExt, PermissionsExt},
        net::UnixListener as StdUnixListener,
    },
    sync::Arc,
};

use axum::{
    body::{Body, Bytes},
    http::{header::CONTENT_TYPE, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::watch;
use tower::ServiceExt;

use super::{bind, router, AppState};
use crate::agent::{
    api::{ApiError, EventLine, Refusal, TaskView},
    fake::{event, FakeService},
    metrics::Metrics,
};

struct Harness {
    service: Arc<FakeService>,
    app: Router,
    stop: watch::Sender<bool>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_event_capacity(16)
    }

    fn with_event_capacity(capacity: usize) -> Harness {
        let service = FakeService::new(capacity);
        let (stop, stopping) = watch::channel(false);
        let app = router(AppState {
            service: service.clone(),
            metrics: Arc::new(Metrics::new()),
            stopping,
        });
        Harness { service, app, stop }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, Bytes) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, content_type, body)
    }

    async fn json(
        &self,
        method: Method,
        uri: &str,
        body: &str,
    ) -> (StatusCode, Option<String>, Bytes) {
        self.send(request(
            method,
            uri,
            Some("application/json"),
            body.to_owned(),
        ))
        .await
    }
}

fn request(method: Method, uri: &str, content_type: Option<&str>, body: String) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    request.body(Body::from(body)).unwrap()
}

fn enforce_body(id: &str) -> String {
    json!({"id": id, "cgroup": {"path": "/sys/fs/cgroup/t"}, "network": {"Type": "None"}})
        .to_string()
}

/// Asserts a JSON error answer of `status` and kind `error`; returns its message.
fn assert_api_error(
    case: &str,
    (status, content_type, body): (StatusCode, Option<String>, Bytes),
    expected_status: StatusCode,
    expected_error: &str,
) -> String {
    assert_eq!(status, expected_status, "{case}: {body:?}");
    assert_eq!(content_type.as_deref(), Some("application/json"), "{case}");
    let answer: ApiError = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{case}: not an ApiError ({e}): {body:?}"));
    assert_eq!(answer.error, expected_error, "{case}: {answer:?}");
    assert!(!answer.message.is_empty(), "{case}");
    answer.message
}

#[tokio::test]
async fn bad_requests_get_a_json_400_and_never_reach_the_service() {
    let long_id = "a".repeat(200);
    let oversized = json!({"id": "big", "cgroup": {"pid": 1},
        "job": {"spec": "x".repeat(crate::agent::api::MAX_BODY_BYTES)}})
    .to_string();
    let post = |body: &str| (Method::POST, "/v1/tasks".to_owned(), body.to_owned());
    let put = |id: &str, body: &str| {
        (
            Method::PUT,
            format!("/v1/tasks/{id}/network"),
            body.to_owned(),
        )
    };
    let cases: Vec<(&str, (Method, String, String))> = vec![
        ("not JSON", post("not json")),
        ("truncated JSON", post(r#"{"id": "a", "cgroup": {"pid": 1"#)),
        ("empty body", post("")),
        ("an array", post("[]")),
        (
            "id of the wrong type",
            post(r#"{"id": 5, "cgroup": {"pid": 1}, "network": {"Type": "None"}}"#),
        ),
        (
            "pid of the wrong type",
            post(r#"{"id": "a", "cgroup": {"pid": "1"}, "network": {"Type": "None"}}"#),
        ),
        (
            "port out of range",
            post(
                r#"{"id": "a", "cgroup": {"pid": 1}, "network": {"Type": "None"}, "http_ports": [70000]}"#,
            ),
        ),
        (
            "unknown field",
            post(r#"{"id": "a", "cgroup": {"pid": 1}, "network": {"Type": "None"}, "extra": 1}"#),
        ),
        (
            "unknown cgroup kind",
            post(r#"{"id": "a", "cgroup": {"name": "x"}, "network": {"Type": "None"}}"#),
        ),
        (
            "unknown field in job",
            post(r#"{"id": "a", "cgroup": {"pid": 1}, "job": {"spec": "x", "extra": 1}}"#),
        ),
        (
            "missing id",
            post(r#"{"cgroup": {"pid": 1}, "network": {"Type": "None"}}"#),
        ),
        (
            "missing cgroup",
            post(r#"{"id": "a", "network": {"Type": "None"}}"#),
        ),
        ("empty id", post(&enforce_body(""))),
        ("id with a path", post(&enforce_body("../x"))),
        ("hidden id", post(&enforce_body(".hidden"))),
        ("id with a space", post(&enforce_body("a b"))),
        ("id of 200 characters", post(&enforce_body(&long_id))),
        (
            "network and job",
            post(
                r#"{"id": "a", "cgroup": {"pid": 1}, "network": {"Type": "None"}, "job": {"spec": "x"}}"#,
            ),
        ),
        (
            "neither network nor job",
            post(r#"{"id": "a", "cgroup": {"pid": 1}}"#),
        ),
        ("body over 1 MiB", post(&oversized)),
        (
            "change: path id",
            put("..%2Fx", r#"{"network": {"Type": "None"}}"#),
        ),
        (
            "change: hidden id",
            put(".hidden", r#"{"network": {"Type": "None"}}"#),
        ),
        (
            "change: long id",
            put(&long_id, r#"{"network": {"Type": "None"}}"#),
        ),
        (
            "change: unknown field",
            put("a", r#"{"network": {"Type": "None"}, "id": "a"}"#),
        ),
        ("change: neither", put("a", "{}")),
        (
            "change: both",
            put(
                "a",
                r#"{"network": {"Type": "None"}, "job": {"spec": "x"}}"#,
            ),
        ),
        ("change: malformed", put("a", "{")),
        (
            "release: hidden id",
            (
                Method::DELETE,
                "/v1/tasks/.hidden".to_owned(),
                String::new(),
            ),
        ),
        (
            "release: encoded space",
            (Method::DELETE, "/v1/tasks/a%20b".to_owned(), String::new()),
        ),
        (
            "task: long id",
            (Method::GET, format!("/v1/tasks/{long_id}"), String::new()),
        ),
        (
            "task: bad encoding",
            (Method::GET, "/v1/tasks/%FF".to_owned(), String::new()),
        ),
    ];
    for (case, (method, uri, body)) in cases {
        let harness = Harness::new();
        let answer = harness.json(method, &uri, &body).await;
        let message = assert_api_error(case, answer, StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            harness.service.calls().is_empty(),
            "{case}: {:?}",
            harness.service.calls()
        );
        if case == "body over 1 MiB" {
            assert_eq!(message, "the request body is larger than 1048576 bytes");
        }
    }
}

#[tokio::test]
async fn bodies_must_be_declared_json() {
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let harness = Harness::new();
        let answer = harness
            .send(request(
                Method::POST,
                "/v1/tasks",
                content_type,
                enforce_body("a"),
            ))
            .await;
        let message = assert_api_error(
            &format!("{content_type:?}"),
            answer,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
        assert!(message.contains("application/json"), "{message}");
        assert!(harness.service.calls().is_empty());
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_404_and_405() {
    let cases = [
        (Method::GET, "/", StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/v2/tasks", StatusCode::NOT_FOUND, "not_found"),
        (
            Method::GET,
            "/v1/tasks/",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::DELETE,
            "/v1/tasks/a/b",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::DELETE,
            "/v1/tasks",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/v1/tasks/a",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/v1/tasks/a/network",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/v1/status",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::PATCH,
            "/metrics",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, uri, status, error) in cases {
        let harness = Harness::new();
        let case = format!("{method} {uri}");
        assert_api_error(&case, harness.json(method, uri, "{}").await, status, error);
        assert!(harness.service.calls().is_empty(), "{case}");
    }
}

#[tokio::test]
async fn refusals_get_their_status() {
    let cases = [
        (
            Refusal::BadSpec("bad".into()),
            StatusCode::BAD_REQUEST,
            "bad_spec",
        ),
        (
            Refusal::UnknownCgroup("gone".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_cgroup",
        ),
        (
            Refusal::DuplicateId("a".into()),
            StatusCode::CONFLICT,
            "duplicate_id",
        ),
        (
            Refusal::CgroupTaken("b".into()),
            StatusCode::CONFLICT,
            "cgroup_taken",
        ),
        (
            Refusal::NotFound("a".into()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Refusal::StillRunning("c".into()),
            StatusCode::CONFLICT,
            "still_running",
        ),
        (
            Refusal::EnforceFailed("bpf".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
            "enforce_failed",
        ),
        (
            Refusal::AtCapacity("full".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            "at_capacity",
        ),
    ];
    for (refusal, status, error) in cases {
        let harness = Harness::new();
        harness.service.refuse_next(refusal.clone());
        let answer = harness
            .json(Method::POST, "/v1/tasks", &enforce_body("a"))
            .await;
        let message = assert_api_error(error, answer, status, error);
        assert_eq!(message, refusal.to_string());
        assert_eq!(harness.service.calls(), ["enforce a"]);
    }

    let harness = Harness::new();
    let answer = harness
        .send(request(
            Method::DELETE,
            "/v1/tasks/ghost",
            None,
            String::new(),
        ))
        .await;
    assert_api_error("release", answer, StatusCode::NOT_FOUND, "not_found");
    let answer = harness
        .send(request(
            Method::DELETE,
            "/v1/tasks/ghost?force=1",
            None,
            String::new(),
        ))
        .await;
    assert_api_error(
        "release query",
        answer,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let answer = harness
        .send(request(Method::GET, "/v1/tasks/ghost", None, String::new()))
        .await;
    assert_api_error("task", answer, StatusCode::NOT_FOUND, "not_found");
    let answer = harness
        .json(
            Method::PUT,
            "/v1/tasks/ghost/network",
            r#"{"network": {"Type": "Host"}}"#,
        )
        .await;
    assert_api_error("change", answer, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        harness.service.calls(),
        ["release ghost", "task ghost", "change ghost"]
    );
}

#[tokio::test]
async fn tasks_are_enforced_changed_listed_and_released_off_the_async_thread() {
    let harness = Harness::new();
    let (status, content_type, body) = harness
        .json(Method::POST, "/v1/tasks", &enforce_body("task-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let view: TaskView = serde_json::from_slice(&body).unwrap();
    assert_eq!((view.id.as_str(), view.mode.as_str()), ("task-1", "none"));
    assert_eq!(view.cgroup.to_str(), Some("/sys/fs/cgroup/t"));

    let (status, _, body) = harness
        .json(
            Method::PUT,
            "/v1/tasks/task-1/network",
            r#"{"network": {"Type": "Host"}, "http_ports": [8080]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let view: TaskView = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (view.mode.as_str(), view.http_ports.as_slice()),
        ("host", &[8080][..])
    );

    let (status, _, body) = harness
        .send(request(Method::GET, "/v1/tasks", None, String::new()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let tasks: Vec<TaskView> = serde_json::from_slice(&body).unwrap();
    assert_eq!(tasks, std::slice::from_ref(&view));

    let (status, _, body) = harness
        .send(request(
            Method::GET,
            "/v1/tasks/task-1",
            None,
            String::new(),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<TaskView>(&body).unwrap(), view);

    let (status, _, body) = harness
        .send(request(
            Method::DELETE,
            "/v1/tasks/task-1",
            None,
            String::new(),
        ))
        .await;
    assert_eq!((status, body.len()), (StatusCode::NO_CONTENT, 0));

    assert_eq!(
        harness.service.calls(),
        [
            "enforce task-1",
            "change task-1",
            "list",
            "task task-1",
            "release task-1"
        ]
    );
    // This test's runtime has one thread: the kernel calls ran on others.
    let kernel_threads = harness.service.kernel_threads();
    assert_eq!(kernel_threads.len(), 3);
    assert!(!kernel_threads.contains(&std::thread::current().id()));
}

#[tokio::test]
async fn a_job_spec_is_passed_through() {
    let harness = Harness::new();
    let body =
        json!({"id": "job-1", "cgroup": {"pid": 7}, "job": {"spec": "Tasks: []", "task": "main"}});
    let (status, _, body) = harness
        .json(Method::POST, "/v1/tasks", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:?}");
    let view: TaskView = serde_json::from_slice(&body).unwrap();
    assert_eq!(view.cgroup.to_str(), Some("/fake/pid-7"));
}

#[tokio::test]
async fn status_and_metrics_are_served() {
    let harness = Harness::new();
    harness
        .json(Method::POST, "/v1/tasks", &enforce_body("task-1"))
        .await;

    let (status, _, body) = harness
        .send(request(Method::GET, "/v1/status", None, String::new()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["tasks"], 1);

    let (status, content_type, body) = harness
        .send(request(Method::GET, "/metrics", None, String::new()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.lines()
            .any(|line| line == r#"enforcer_connects_total{task="task-1",verdict="refused"} 1"#),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|line| line == "enforcer_events_lost_total 2"),
        "{text}"
    );
}

#[tokio::test]
async fn a_slow_event_reader_is_told_how_many_it_missed_and_the_stream_ends_on_shutdown() {
    let harness = Harness::with_event_capacity(2);
    let response = harness
        .app
        .clone()
        .oneshot(request(Method::GET, "/v1/events", None, String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/x-ndjson");
    for time_ms in 1..=5 {
        harness
            .service
            .events()
            .send(event("task-1", time_ms))
            .unwrap();
    }
    let mut body = response.into_body();
    let mut lines = Vec::new();
    while lines.len() < 3 {
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let text = String::from_utf8(frame.to_vec()).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        lines.extend(
            text.lines()
                .map(|line| serde_json::from_str::<EventLine>(line).unwrap()),
        );
    }
    assert_eq!(
        lines,
        [
            EventLine::Lagged { lagged: 3 },
            EventLine::Event(event("task-1", 4)),
            EventLine::Event(event("task-1", 5)),
        ]
    );
    harness.stop.send_replace(true);
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn bind_creates_the_directory_and_an_owner_only_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/enforcer/agent.sock");
    let _listener = bind(&path, None).unwrap();
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o600);
    let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1,
        "no staging file left"
    );
}

#[tokio::test]
async fn bind_gives_the_group_access() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let gid = 4;
    let _listener = bind(&path, Some(gid)).unwrap();
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o660);
    assert_eq!(metadata.gid(), gid);
}

#[tokio::test]
async fn bind_refuses_a_live_agent_and_replaces_a_stale_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");

    let live = bind(&path, None).unwrap();
    let error = bind(&path, None).unwrap_err().to_string();
    assert!(error.contains("another agent answers at"), "{error}");
    assert!(
        std::os::unix::net::UnixStream::connect(&path).is_ok(),
        "the live socket stays"
    );
    drop(live);

    // The file of a dead agent: a socket nobody listens on.
    assert!(path.exists());
    let listener = bind(&path, None).unwrap();
    let accepted = tokio::spawn(async move { listener.accept().await.map(drop) });
    tokio::net::UnixStream::connect(&path).await.unwrap();
    accepted.await.unwrap().unwrap();
}

#[tokio::test]
async fn bind_leaves_other_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    std::fs::write(&path, "data").unwrap();
    let error = bind(&path, None).unwrap_err().to_string();
    assert!(error.contains("is not a socket"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");

    let path = dir.path().join("stale.sock");
    drop(StdUnixListener::bind(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let _listener = bind(&path, None).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
