//! `GET /playground`: a single page, served by the binary, to talk to any team or agent.

use axum::response::Html;

/// The page: plain HTML, CSS and JavaScript, no build step.
pub(crate) async fn page() -> Html<&'static str> {
    Html(include_str!("playground.html"))
}
