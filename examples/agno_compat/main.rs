//! agno's recorded AgentOS app, ported to agentos: the same ids, names, inputs, scopes and
//! routes, so agno's own clients, its control plane and its recorded exchanges work against
//! it unchanged. `components.rs` is the lesson: each component beside the agno line it
//! replaces.
//!
//! Run with (models answer offline with `TestModel` unless `OPENAI_BASE_URL`/`OPENAI_API_KEY`
//! are set; the mock example serves answers like the recordings' model):
//!     cargo run --example mock_openai -- 127.0.0.1:18080 &
//!     OPENAI_BASE_URL=http://127.0.0.1:18080/v1 OPENAI_API_KEY=test \
//!       cargo run --example agno_compat
//!
//! Tokens are HS256 with `JWT_VERIFICATION_KEY` (default: the recordings' secret); with
//! `AGENTOS_AUTH=off` the server verifies none and takes `user_id` from the request.
//! `AGENTOS_ADDR` sets the address (default `127.0.0.1:7777`), `AGENTOS_DB` a SQLite path or a
//! PostgreSQL URL (default: in memory), `AGENTOS_CORS_ORIGINS` the browser origins.
//!
//! Then try it:
//!     curl -s http://127.0.0.1:7777/teams/support-team/runs \
//!       -H "Authorization: Bearer $(cargo run -q --example agno_compat -- mint tenant_42)" \
//!       -F message='I need help with billing' -F stream=false

mod components;

use agentos::server::JwtAuth;
use agentos::store::Db;

/// The secret of the recorded exchanges' tokens: fine for trying them, never for a
/// deployment.
const RECORDINGS_SECRET: &str = "oracle-hs256-secret-with-at-least-32-bytes!";

fn secret() -> String {
    std::env::var("JWT_VERIFICATION_KEY")
        .ok()
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| RECORDINGS_SECRET.to_owned())
}

/// `mint <sub> [scope...]`: prints a token valid for an hour.
fn mint(args: &[String]) -> anyhow::Result<()> {
    let Some((sub, scopes)) = args.split_first() else {
        anyhow::bail!("usage: agno_compat mint <sub> [scope...]");
    };
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": sub, "scopes": scopes, "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(secret().as_bytes());
    println!(
        "{}",
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)?
    );
    Ok(())
}

fn db() -> Db {
    match std::env::var("AGENTOS_DB") {
        Ok(url) if url.starts_with("postgres") => Db::postgres(url),
        Ok(path) if !path.is_empty() => Db::sqlite(path),
        _ => Db::memory(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("mint") {
        return mint(&args[1..]);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    // A base URL alone is enough: a local OpenAI-compatible server needs no key.
    match std::env::var("OPENAI_BASE_URL") {
        Ok(url) if !url.is_empty() => components::use_upstream(components::Upstream::BaseUrl(url)),
        _ => {}
    }
    let mut builder = components::builder().db(db());
    if std::env::var("AGENTOS_AUTH").as_deref() == Ok("off") {
        tracing::warn!("AGENTOS_AUTH=off: no token is verified, user_id is the client's word");
    } else {
        builder = builder.auth(JwtAuth::hs256(secret().as_bytes()));
    }
    builder
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
