//! The agent's HTTP/JSON API on a unix socket: the routes of [`api`](super::api), each
//! calling the [`TaskService`].

mod events;
mod reply;
mod socket;
#[cfg(test)]
mod tests;

use std::{future::Future, sync::Arc};

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, RawQuery, State},
    http::{header::CONTENT_TYPE, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use tokio::{net::UnixListener, sync::watch};

pub use socket::bind;

use self::reply::{ApiFailure, ApiJson, TaskId};
use super::{
    api::{
        check_id, AgentStatus, EnforceRequest, NetworkRequest, Refusal, TaskService, TaskView,
        MAX_BODY_BYTES,
    },
    metrics::{self, Metrics},
};
use crate::error::{Error, Result};

/// What every handler reaches.
#[derive(Clone)]
struct AppState {
    service: Arc<dyn TaskService>,
    metrics: Arc<Metrics>,
    /// Turns true when the server starts shutting down, to end event streams.
    stopping: watch::Receiver<bool>,
}

/// Serves the API on `listener` until `shutdown` completes, then waits for the requests under
/// way (event streams end at once).
pub async fn serve(
    service: Arc<dyn TaskService>,
    metrics: Arc<Metrics>,
    listener: UnixListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let socket = listener
        .local_addr()
        .ok()
        .and_then(|addr| addr.as_pathname().map(ToOwned::to_owned))
        .unwrap_or_default();
    let (stop, stopping) = watch::channel(false);
    let app = router(AppState {
        service,
        metrics,
        stopping,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.send_replace(true);
        })
        .await
        .map_err(Error::io("serving the API on", socket))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tasks", post(enforce).get(list))
        .route("/v1/tasks/{id}", get(task).delete(release))
        .route("/v1/tasks/{id}/network", put(change))
        .route("/v1/events", get(stream_events))
        .route("/v1/status", get(status))
        .route("/metrics", get(scrape_metrics))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn enforce(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EnforceRequest>,
) -> Result<(StatusCode, Json<TaskView>), ApiFailure> {
    check_id(&request.id)?;
    request.network.check_shape()?;
    let view = off_async(&state, move |service| service.enforce(request)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn change(
    State(state): State<AppState>,
    TaskId(id): TaskId,
    ApiJson(network): ApiJson<NetworkRequest>,
) -> Result<Json<TaskView>, ApiFailure> {
    network.check_shape()?;
    let view = off_async(&state, move |service| service.change(&id, network)).await?;
    Ok(Json(view))
}

async fn release(
    State(state): State<AppState>,
    TaskId(id): TaskId,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiFailure> {
    let if_stopped = match query.as_deref() {
        None | Some("") => false,
        Some("if_stopped=true") => true,
        Some(other) => {
            return Err(Refusal::BadRequest(format!(
                "unknown query {other:?}: the only one is if_stopped=true"
            ))
            .into())
        }
    };
    off_async(&state, move |service| match if_stopped {
        true => service.release_if_stopped(&id),
        false => service.release(&id),
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<TaskView>>, ApiFailure> {
    Ok(Json(off_async(&state, |service| Ok(service.list())).await?))
}

async fn task(
    State(state): State<AppState>,
    TaskId(id): TaskId,
) -> Result<Json<TaskView>, ApiFailure> {
    Ok(Json(
        off_async(&state, move |service| service.task(&id)).await?,
    ))
}

async fn status(State(state): State<AppState>) -> Result<Json<AgentStatus>, ApiFailure> {
    Ok(Json(
        off_async(&state, |service| Ok(service.status())).await?,
    ))
}

async fn stream_events(State(state): State<AppState>) -> Response {
    let lines = events::event_lines(state.service.subscribe(), state.stopping.clone());
    (
        [(CONTENT_TYPE, events::CONTENT_TYPE)],
        Body::from_stream(lines),
    )
        .into_response()
}

async fn scrape_metrics(State(state): State<AppState>) -> Result<Response, ApiFailure> {
    let (tasks, status) =
        off_async(&state, |service| Ok((service.list(), service.status()))).await?;
    let text = state.metrics.render(&tasks, &status);
    Ok(([(CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

async fn unknown_route(method: Method, uri: Uri) -> ApiFailure {
    ApiFailure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiFailure {
    ApiFailure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
    )
}

/// Runs a service call on the blocking pool: `enforce`, `change` and `release` do kernel work,
/// and the others may wait for a lock held across it. A call runs to its end even when the
/// client goes away, so no task is left half enforced.
async fn off_async<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&dyn TaskService) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, ApiFailure> {
    let service = Arc::clone(&state.service);
    let outcome = tokio::task::spawn_blocking(move || call(service.as_ref()))
        .await
        .map_err(|e| Refusal::EnforceFailed(format!("the agent failed on this request: {e}")))?;
    Ok(outcome?)
}
