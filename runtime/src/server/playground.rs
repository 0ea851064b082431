//! `GET /playground`: a single page, served by the binary, to talk to any team or agent.

use axum::http::header;
use axum::response::{Html, IntoResponse};

/// The page carries its own CSS and script, and talks only to this server. The policy holds
/// it to that, so even a renderer bug could neither load nor send anything elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page: plain HTML, CSS and JavaScript, no build step.
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(include_str!("playground.html")),
    )
}
