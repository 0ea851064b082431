//! Which browser origins may call the API, with tower-http's CORS layer.

use axum::http::HeaderValue;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

/// The origins agno's AgentOS allows when it is given none: its control plane and a local
/// UI, so the same UI reaches agentos without configuration.
pub(crate) const AGNO_DEFAULT_ORIGINS: &[&str] = &[
    "http://localhost:3000",
    "https://agno.com",
    "https://www.agno.com",
    "https://app.agno.com",
    "https://os-stg.agno.com",
    "https://os.agno.com",
];

/// The origins allowed: those configured on the builder, else `AGENTOS_CORS_ORIGINS`
/// (comma-separated), else agno's defaults. `*` allows any origin.
pub(crate) fn origins(configured: Option<&[String]>) -> Vec<String> {
    if let Some(origins) = configured {
        return origins.to_vec();
    }
    match std::env::var("AGENTOS_CORS_ORIGINS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_owned())
            .filter(|origin| !origin.is_empty())
            .collect(),
        _ => AGNO_DEFAULT_ORIGINS
            .iter()
            .map(|o| (*o).to_owned())
            .collect(),
    }
}

/// The layer for `origins`. Credentials are allowed (agno's UI sends its token and cookies),
/// so methods and headers mirror what the preflight asks rather than a wildcard.
pub(crate) fn layer(origins: Vec<String>) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::mirror_request()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|origin| match HeaderValue::from_str(origin) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!(%origin, "ignoring a CORS origin that is not a valid header value");
                    None
                }
            })
            .collect();
        AllowOrigin::list(list)
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true)
        // A browser MCP client reads its session from `mcp-session-id`.
        .expose_headers([
            http::header::HeaderName::from_static("x-request-id"),
            http::header::HeaderName::from_static("mcp-session-id"),
        ])
}
