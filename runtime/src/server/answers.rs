//! Every error answer in the API's shape: what the framework answers by itself (an extractor's
//! rejection, the router, a layer's refusal) comes out as `{"detail", "error_code"}` too, so an
//! agno client never shows an empty error.

use std::any::Any;

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The most of a framework's text answer read back to explain it; its rejections are a line.
const MAX_TEXT: usize = 1024;

/// Middleware (`map_response`): an error answer whose body is not JSON gets the API's JSON
/// body, with its status and its other headers (`Allow`, `Retry-After`, `WWW-Authenticate`,
/// CORS, request id) kept.
pub(crate) async fn explain(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A 4xx's text is the framework telling the client what it sent wrong; a 5xx's may be
    // internal, so it is logged and replaced by the status's own words.
    let said = if is_text(&parts.headers) {
        axum::body::to_bytes(body, MAX_TEXT)
            .await
            .ok()
            .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    } else {
        None
    };
    let detail = match said {
        Some(text) if status.is_client_error() => text,
        Some(text) => {
            tracing::warn!(%status, answer = %text, "server error answered without an explanation");
            words_of(status)
        }
        None => words_of(status),
    };
    let explained = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::Framework { status, detail }
    }
    .into_response();
    let (explained, body) = explained.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    for (name, value) in &explained.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, body)
}

/// A handler that panicked answers 500 in the API's shape instead of dropping the connection;
/// the panic's message stays in the log.
pub(crate) fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    ApiError::Framework {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        detail: "Internal server error".to_owned(),
    }
    .into_response()
}

/// The status's reason phrase, as FastAPI words an answer that says nothing else.
fn words_of(status: StatusCode) -> String {
    match status {
        StatusCode::INTERNAL_SERVER_ERROR => "Internal server error".to_owned(),
        other => other
            .canonical_reason()
            .map_or_else(|| format!("HTTP {}", other.as_u16()), str::to_owned),
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn is_json(headers: &HeaderMap) -> bool {
    let content_type = content_type(headers);
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

fn is_text(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("text/plain")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn explained(response: Response) -> (StatusCode, HeaderMap, serde_json::Value) {
        let response = explain(response).await;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_bare_status_gets_its_reason_and_keeps_its_headers() {
        let response = (
            StatusCode::METHOD_NOT_ALLOWED,
            [("allow", "GET,HEAD"), ("retry-after", "3")],
        )
            .into_response();
        let (status, headers, body) = explained(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers["allow"], "GET,HEAD");
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(body["detail"], "Method Not Allowed");
        assert_eq!(body["error_code"], "method_not_allowed");
    }

    #[tokio::test]
    async fn a_client_error_keeps_its_text_and_a_server_error_does_not() {
        let response = (
            StatusCode::BAD_REQUEST,
            "Failed to deserialize query string",
        )
            .into_response();
        let (_, _, body) = explained(response).await;
        assert_eq!(body["detail"], "Failed to deserialize query string");
        assert_eq!(body["error_code"], "bad_request");

        let response = (StatusCode::INTERNAL_SERVER_ERROR, "password=hunter2").into_response();
        let (status, _, body) = explained(response).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["detail"], "Internal server error");
        assert!(!body.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_that_keeps_its_message_to_itself() {
        use tower::ServiceExt;
        let router = axum::Router::new()
            .route(
                "/",
                axum::routing::get(|| async {
                    panic!("the database password is hunter2");
                    #[allow(unreachable_code)]
                    ()
                }),
            )
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
        let request = axum::http::Request::get("/").body(Body::empty()).unwrap();
        let (status, headers, body) = explained(router.oneshot(request).await.unwrap()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(body["detail"], "Internal server error");
        assert_eq!(body["error_code"], "internal_error");
        assert!(!body.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn json_answers_and_successes_pass_untouched() {
        let response = (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"detail": "x"})),
        )
            .into_response();
        let (_, _, body) = explained(response).await;
        assert_eq!(body, serde_json::json!({"detail": "x"}));

        let response = explain((StatusCode::NO_CONTENT, "").into_response()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}
