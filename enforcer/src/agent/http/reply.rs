//! Error answers and the extractors that turn every bad request into one: the API answers
//! with an [`ApiError`] body, never with the framework's plain-text rejections.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, FromRequestParts, Path, Request},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::de::DeserializeOwned;

use crate::agent::api::{check_id, ApiError, Refusal, MAX_BODY_BYTES};

/// An error answer: a status and an [`ApiError`] body.
#[derive(Debug)]
pub(super) struct ApiFailure {
    status: StatusCode,
    body: ApiError,
}

impl ApiFailure {
    pub(super) fn new(status: StatusCode, error: &str, message: String) -> ApiFailure {
        ApiFailure {
            status,
            body: ApiError {
                error: error.to_owned(),
                message,
            },
        }
    }
}

impl From<Refusal> for ApiFailure {
    fn from(refusal: Refusal) -> ApiFailure {
        ApiFailure {
            status: StatusCode::from_u16(refusal.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: refusal.body(),
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A JSON request body of at most [`MAX_BODY_BYTES`]; anything else is a `400`.
pub(super) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiFailure;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiFailure> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(Refusal::BadRequest(json_problem(&rejection)).into()),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with Content-Type: application/json".to_owned()
        }
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than {MAX_BODY_BYTES} bytes")
        }
        _ => rejection.body_text(),
    }
}

/// The `{id}` of a route, checked with [`check_id`].
pub(super) struct TaskId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiFailure> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Refusal::BadRequest(rejection.body_text()))?;
        check_id(&id)?;
        Ok(TaskId(id))
    }
}
