//! Every error the HTTP API answers with, mapped to a status and a body in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::component::ComponentKind;
use crate::error::FactoryError;
use crate::runs::RunError;

/// An error answered before a run starts (errors during a run are run events).
///
/// The body always has `detail` (what agno clients read) and `error_code`; validation errors
/// add `errors`, one entry per field path. A 500 never carries an internal message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No component of this kind has that id.
    #[error("{} not found", .0.label())]
    NotFound(ComponentKind),
    /// No run with that id is in flight here.
    #[error("run not found")]
    RunNotFound,
    /// The form has no `message`.
    #[error("message is required")]
    MissingMessage,
    /// The body could not be read as a run request.
    #[error("{0}")]
    BadBody(String),
    /// The body's content type is not one the route accepts.
    #[error(
        "unsupported content type: send multipart/form-data, application/x-www-form-urlencoded or application/json"
    )]
    UnsupportedMediaType,
    /// The factory refused or failed.
    #[error(transparent)]
    Factory(#[from] FactoryError),
    /// The factory did not return within the configured bound.
    #[error("the factory did not finish within {0} s")]
    FactoryTimeout(u64),
    /// The body is larger than the configured limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The session store did not answer.
    #[error("the session store is unavailable; try again shortly")]
    StoreUnavailable(#[from] crate::store::StoreError),
    /// No session with that id (or none the caller may see).
    #[error("Session not found")]
    SessionNotFound,
    /// The run's task stopped before it answered.
    #[error("the run was interrupted; read it back with GET .../runs/{{run_id}}")]
    Interrupted,
    /// Another run of the session is in progress and the strategy is `reject`.
    #[error("another run of this session is in progress")]
    SessionBusy,
    /// The caller is over one of their limits.
    #[error("over the limit of {limit}; try again in {retry_after} s")]
    TooManyRequests {
        /// Which limit.
        limit: &'static str,
        /// Seconds until a run would be let through.
        retry_after: u64,
    },
    /// Only a paused run can be continued.
    #[error("only a paused run can be continued; this one is {}", .0.as_str())]
    NotPaused(crate::run::RunStatus),
    /// The idempotency key was used with another request.
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    /// The run finished but its end could not be stored.
    #[error("the run finished but could not be recorded; read it back later as run {0}")]
    NotRecorded(String),
    /// A field of the request has a value of the wrong type (FastAPI's 422).
    #[error("{}: {}", .0.loc.join("."), .0.msg)]
    InvalidField(FieldProblem),
    /// No route has this path.
    #[error("Not Found")]
    RouteNotFound,
    /// The route does not answer this method.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// A feature of agno's AgentOS that agentos does not serve yet.
    #[error("{0} is not available: agentos does not serve this feature yet")]
    FeatureUnavailable(&'static str),
    /// A session with the requested id already exists.
    #[error("a session with this id already exists; change it with PATCH /sessions/{{session_id}}")]
    SessionExists,
    /// No memory with that id (or none the caller may reach).
    #[error("Memory not found")]
    MemoryNotFound,
    /// An answer the HTTP framework gave by itself (an extractor's rejection, a layer's
    /// refusal), put into the API's shape with its status kept.
    #[error("{detail}")]
    Framework {
        /// The status the framework answered with.
        status: StatusCode,
        /// What it said, or the status's own words when it said nothing a client may read.
        detail: String,
    },
    /// The request body did not arrive within the body read timeout.
    #[error("the request body did not arrive within {0} s")]
    RequestTimeout(u64),
    /// The request head is over the header limits.
    #[error(
        "the request headers are too large: at most {} fields and {} KiB in all",
        super::connections::MAX_HEADER_FIELDS,
        super::connections::MAX_HEADER_BYTES / 1024
    )]
    HeadersTooLarge,
    /// Every connection place is taken; the number is the seconds to wait.
    #[error("the server is at its connection limit; try again shortly")]
    TooManyConnections(u64),
}

/// One field a request got wrong, as FastAPI reports it in a 422's `detail` list.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldProblem {
    /// Where: `["body", "stream"]`, `["query", "limit"]`.
    pub loc: Vec<String>,
    /// pydantic's error type, such as `bool_parsing`.
    pub kind: &'static str,
    /// What is wrong.
    pub msg: String,
    /// The value received.
    pub input: Value,
}

impl From<RunError> for ApiError {
    fn from(error: RunError) -> Self {
        match error {
            RunError::UnknownComponent(kind) => ApiError::NotFound(kind),
            RunError::RunNotFound => ApiError::RunNotFound,
            RunError::SessionNotFound => ApiError::SessionNotFound,
            RunError::Invalid(detail) => ApiError::BadBody(detail),
            RunError::Factory(error) => ApiError::Factory(error),
            RunError::FactoryTimeout(seconds) => ApiError::FactoryTimeout(seconds),
            RunError::ShuttingDown => ApiError::ShuttingDown,
            RunError::Interrupted => ApiError::Interrupted,
            RunError::SessionBusy => ApiError::SessionBusy,
            RunError::NotPaused(status) => ApiError::NotPaused(status),
            RunError::LimitExceeded { limit, retry_after } => {
                ApiError::TooManyRequests { limit, retry_after }
            }
            RunError::KeyReused => ApiError::KeyReused,
            RunError::NotRecorded(run_id) => ApiError::NotRecorded(run_id),
            RunError::Store(error) => ApiError::StoreUnavailable(error),
            RunError::SessionExists => ApiError::SessionExists,
            RunError::MemoryNotFound => ApiError::MemoryNotFound,
            RunError::UserRequired => ApiError::BadBody(RunError::UserRequired.to_string()),
            // pydantic's words for the bounds of agno's `memory` field.
            RunError::MemoryText(problem) => ApiError::InvalidField(FieldProblem {
                loc: vec!["body".into(), "memory".into()],
                kind: match problem {
                    crate::runs::MemoryTextError::Empty => "string_too_short",
                    crate::runs::MemoryTextError::TooLong { .. } => "string_too_long",
                },
                msg: problem.to_string(),
                input: Value::Null,
            }),
        }
    }
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) | ApiError::RunNotFound => StatusCode::NOT_FOUND,
            ApiError::MissingMessage => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Factory(FactoryError::Permission(_)) => StatusCode::FORBIDDEN,
            ApiError::Factory(FactoryError::Validation(_)) => StatusCode::BAD_REQUEST,
            ApiError::Factory(FactoryError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::FactoryTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SessionNotFound | ApiError::MemoryNotFound => StatusCode::NOT_FOUND,
            ApiError::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::FeatureUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SessionExists => StatusCode::CONFLICT,
            ApiError::SessionBusy => StatusCode::CONFLICT,
            ApiError::NotPaused(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotRecorded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Framework { status, .. } => *status,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TooManyConnections(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::RunNotFound => "run_not_found",
            ApiError::MissingMessage => "missing_message",
            ApiError::BadBody(_) => "invalid_body",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Factory(error) => error.code(),
            ApiError::FactoryTimeout(_) => "factory_timeout",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::SessionNotFound => "session_not_found",
            ApiError::MemoryNotFound => "memory_not_found",
            ApiError::Interrupted => "run_interrupted",
            ApiError::InvalidField(_) => "invalid_field",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::FeatureUnavailable(_) => "feature_unavailable",
            ApiError::SessionExists => "session_exists",
            ApiError::SessionBusy => "session_busy",
            ApiError::NotPaused(_) => "run_not_paused",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::KeyReused => "idempotency_key_reused",
            ApiError::NotRecorded(_) => "run_not_recorded",
            ApiError::Framework { status, .. } => code_of(*status),
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::HeadersTooLarge => "headers_too_large",
            ApiError::TooManyConnections(_) => "too_many_connections",
        }
    }

    /// The body, with the HTTP status it would have gone with, for doors that answer it inside
    /// a protocol of their own (MCP's tool errors, A2A's JSON-RPC errors).
    pub(crate) fn body_with_status(&self) -> Value {
        let mut body = self.body();
        if let Value::Object(fields) = &mut body {
            fields.insert("status".into(), self.status().as_u16().into());
        }
        body
    }

    pub(crate) fn body(&self) -> Value {
        match self {
            // agno (FastAPI) answers a missing form field with a list in `detail`; its clients
            // read that shape, so it stays, with agentos's fields beside it.
            ApiError::MissingMessage => json!({
                "detail": [{"type": "missing", "loc": ["body", "message"], "msg": "Field required", "input": null}],
                "error_code": self.code(),
                "errors": [{"loc": ["body", "message"], "msg": "Field required"}],
            }),
            ApiError::InvalidField(problem) => json!({
                "detail": [{"type": problem.kind, "loc": problem.loc, "msg": problem.msg, "input": problem.input}],
                "error_code": self.code(),
                "errors": [{"loc": problem.loc, "msg": problem.msg}],
            }),
            ApiError::Factory(FactoryError::Validation(errors)) => json!({
                "detail": errors.detail(),
                "error_code": self.code(),
                "errors": errors.fields(),
            }),
            ApiError::Factory(FactoryError::Internal(cause)) => {
                tracing::error!(error = %cause, source = ?cause.source(), "factory failed");
                json!({"detail": "Internal server error", "error_code": self.code()})
            }
            ApiError::StoreUnavailable(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "store unavailable");
                json!({"detail": self.to_string(), "error_code": self.code()})
            }
            other => json!({"detail": other.to_string(), "error_code": other.code()}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let ApiError::TooManyRequests { retry_after, .. }
        | ApiError::TooManyConnections(retry_after) = &self
            && let Ok(value) = axum::http::HeaderValue::from_str(&retry_after.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// The `error_code` of an answer known only by its status.
pub(crate) fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "invalid_field",
        429 => "rate_limited",
        431 => "headers_too_large",
        500 => "internal_error",
        502 => "bad_gateway",
        503 => "unavailable",
        504 => "timeout",
        _ if status.is_client_error() => "client_error",
        _ => "server_error",
    }
}
