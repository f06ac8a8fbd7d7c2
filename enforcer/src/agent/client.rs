//! A client of the agent's API over its unix socket, for the CLI and the OCI hook.
//!
//! Its calls block: each runs on a small runtime of its own, so call them from plain threads
//! (from async code, through `tokio::task::spawn_blocking`).

use std::{io, ops::ControlFlow, path::PathBuf, time::Duration};

use http_body_util::{BodyExt, Full};
use hyper::{
    body::{Bytes, Incoming},
    client::conn::http1,
    header::{CONTENT_TYPE, HOST},
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::TokioIo;
use serde::{de::DeserializeOwned, Serialize};
use tokio::net::UnixStream;

use super::api::{AgentStatus, ApiError, EnforceRequest, EventLine, NetworkRequest, TaskView};

/// How long a call may take, connecting included, unless [`AgentClient::with_timeout`] says
/// otherwise. `events` has no limit once connected.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call did not get the answer it wanted. Callers that were about to start a task
/// should not start it on any of these (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("agent not reachable at {} (is `enforcer daemon` running?): {source}", socket.display())]
    Unreachable { socket: PathBuf, source: io::Error },
    #[error("the agent at {} did not answer within {timeout:?}", socket.display())]
    Timeout { socket: PathBuf, timeout: Duration },
    /// The agent answered with an error.
    #[error("the agent refused ({status} {}): {}", body.error, body.message)]
    Api { status: u16, body: ApiError },
    /// The exchange failed, or the answer was not what the API promises.
    #[error("talking to the agent at {}: {message}", socket.display())]
    Protocol { socket: PathBuf, message: String },
}

/// A client of the agent listening at one socket.
#[derive(Clone, Debug)]
pub struct AgentClient {
    socket: PathBuf,
    timeout: Duration,
}

impl AgentClient {
    pub fn new(socket: impl Into<PathBuf>) -> AgentClient {
        AgentClient {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Limits each call (but `events` once connected) to `timeout`.
    pub fn with_timeout(self, timeout: Duration) -> AgentClient {
        AgentClient { timeout, ..self }
    }

    /// Enforces a task (`POST /v1/tasks`). On a timeout the agent may still have enforced it.
    pub fn enforce(&self, request: &EnforceRequest) -> Result<TaskView, ClientError> {
        self.call_json(Method::POST, "/v1/tasks".to_owned(), Some(request))
    }

    /// Changes a task's network (`PUT /v1/tasks/{id}/network`).
    pub fn change(&self, id: &str, network: &NetworkRequest) -> Result<TaskView, ClientError> {
        let path = format!("/v1/tasks/{}/network", path_segment(id));
        self.call_json(Method::PUT, path, Some(network))
    }

    /// Releases a task (`DELETE /v1/tasks/{id}`).
    pub fn release(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/tasks/{}", path_segment(id));
        self.call(Method::DELETE, path, None).map(drop)
    }

    /// Releases task `id` only if no process is left in its cgroup.
    pub fn release_if_stopped(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/tasks/{}?if_stopped=true", path_segment(id));
        self.call(Method::DELETE, path, None).map(drop)
    }

    pub fn list(&self) -> Result<Vec<TaskView>, ClientError> {
        self.call_json(Method::GET, "/v1/tasks".to_owned(), None::<&()>)
    }

    pub fn task(&self, id: &str) -> Result<TaskView, ClientError> {
        let path = format!("/v1/tasks/{}", path_segment(id));
        self.call_json(Method::GET, path, None::<&()>)
    }

    pub fn status(&self) -> Result<AgentStatus, ClientError> {
        self.call_json(Method::GET, "/v1/status".to_owned(), None::<&()>)
    }

    /// The Prometheus text of `GET /metrics`.
    pub fn metrics(&self) -> Result<String, ClientError> {
        let body = self.call(Method::GET, "/metrics".to_owned(), None)?;
        String::from_utf8(body.to_vec()).map_err(|e| self.protocol(e))
    }

    /// Streams `GET /v1/events` into `on_line`, line by line, until it returns
    /// [`ControlFlow::Break`] (`Ok`) or the agent ends the stream (`Ok`: it is stopping).
    pub fn events(
        &self,
        mut on_line: impl FnMut(EventLine) -> ControlFlow<()>,
    ) -> Result<(), ClientError> {
        self.block_on(async {
            let response = self
                .limited(self.send(Method::GET, "/v1/events".to_owned(), None))
                .await?;
            let mut body = self.check_status(response).await?.into_body();
            let mut pending = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| self.protocol(e))?;
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                pending.extend_from_slice(data);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let line = serde_json::from_slice(&line).map_err(|e| self.protocol(e))?;
                    if on_line(line).is_break() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })?
    }

    fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| self.protocol(e))?;
        let answer = self.call(method, path, body)?;
        serde_json::from_slice(&answer).map_err(|e| self.protocol(e))
    }

    /// One exchange within the timeout; the body of a successful answer.
    fn call(
        &self,
        method: Method,
        path: String,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        self.block_on(self.limited(async {
            let response = self.send(method, path, body).await?;
            let response = self.check_status(response).await?;
            let body = response.into_body().collect().await;
            Ok(body.map_err(|e| self.protocol(e))?.to_bytes())
        }))?
    }

    async fn send(
        &self,
        method: Method,
        path: String,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Unreachable {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.protocol(e))?;
        // Drives the connection; its errors come back through `send_request` or the body.
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "localhost");
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.protocol(e))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| self.protocol(e))
    }

    /// The response if it is a success, else its [`ApiError`] as [`ClientError::Api`].
    async fn check_status(
        &self,
        response: Response<Incoming>,
    ) -> Result<Response<Incoming>, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.protocol(e))?
            .to_bytes();
        match serde_json::from_slice::<ApiError>(&body) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                body,
            }),
            Err(_) => Err(self.protocol(format!(
                "answered {status} with {:?}",
                String::from_utf8_lossy(&body)
            ))),
        }
    }

    async fn limited<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                socket: self.socket.clone(),
                timeout: self.timeout,
            })?
    }

    fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> Result<T, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| self.protocol(format!("starting the client's runtime: {e}")))?;
        Ok(runtime.block_on(future))
    }

    fn protocol(&self, problem: impl std::fmt::Display) -> ClientError {
        ClientError::Protocol {
            socket: self.socket.clone(),
            message: problem.to_string(),
        }
    }
}

impl ClientError {
    /// The HTTP status of an [`ClientError::Api`] answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => StatusCode::from_u16(*status).ok(),
            _ => None,
        }
    }
}

/// `id` as one path segment: bytes other than `[A-Za-z0-9_.~-]` percent-encoded, so that the
/// agent judges the id and not the router.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'~' | b'-' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
