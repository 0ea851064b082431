//! An agent whose tools come from an MCP server: the factory connects it to the server at
//! `MCP_SERVER_URL` (streamable HTTP) for each run, sending the caller's verified user id as
//! `X-User-Id` so the server answers for that user only. The model comes from the environment
//! (`AGENTOS_MODEL`, see the README's Models section); tokens are verified with
//! `JWT_VERIFICATION_KEY` (HS256), as in `agno_compat`.
//!
//! Run with:
//!     cargo run --example mcp_orders_server -- 127.0.0.1:8931 &
//!     MCP_SERVER_URL=http://127.0.0.1:8931/mcp cargo run --example mcp_tools
//!
//! Mint a token (HS256 with `JWT_VERIFICATION_KEY`, or the demo secret the server logs):
//!     TOKEN=$(cargo run -q --example mcp_tools -- mint tenant_42)
//!
//! Then try it:
//!     curl -s http://127.0.0.1:7777/agents/orders-agent/runs \
//!       -H "Authorization: Bearer $TOKEN" -F message='Where is order A-1001?' -F stream=false
//!
//! The run's `tools` show `lookup_order` answered `order example of tenant_42: shipped`;
//! `cancel_order` waits for a person's confirmation, as `human_approval` shows.

use agentos::model::from_env;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::store::Db;

/// Used when `JWT_VERIFICATION_KEY` is not set; fine for trying the example, never for a
/// deployment.
const DEMO_SECRET: &str = "agentos-demo-secret-change-me-at-least-32-bytes";

fn server_url() -> String {
    std::env::var("MCP_SERVER_URL").unwrap_or_else(|_| "http://127.0.0.1:8931/mcp".to_owned())
}

#[agent_factory(
    id = "orders-agent",
    name = "Orders Agent",
    description = "Answers about the caller's orders with the tools of an MCP server."
)]
fn orders_agent(ctx: RequestContext) -> Result<Agent, FactoryError> {
    // The token's subject, never a user id from the body: the MCP server trusts this header.
    let user = ctx
        .user_id()
        .ok_or_else(|| FactoryError::permission("a signed-in user is required"))?;
    let orders = McpTools::http(server_url())
        .with_header("X-User-Id", user)
        .include(["lookup_order", "cancel_order"])
        .requires_confirmation(["cancel_order"]);
    Ok(Agent::new("Orders Agent")
        .with_role("Answers questions about the user's orders")
        .with_model(from_env("gpt-5.4")?)
        .with_tools(orders))
}

fn secret() -> String {
    std::env::var("JWT_VERIFICATION_KEY").unwrap_or_else(|_| DEMO_SECRET.to_owned())
}

/// `mint <sub>`: prints a token valid for an hour.
fn mint(args: &[String]) -> anyhow::Result<()> {
    let [sub] = args else {
        anyhow::bail!("usage: mcp_tools mint <sub>");
    };
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": sub, "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(secret().as_bytes());
    println!(
        "{}",
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)?
    );
    Ok(())
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
    if std::env::var("JWT_VERIFICATION_KEY").is_err() {
        tracing::warn!("JWT_VERIFICATION_KEY is not set: verifying with the demo secret");
    }
    tracing::info!(mcp_server = %server_url(), "tools come from this MCP server");
    AgentOs::builder()
        .agent(orders_agent)
        .auth(JwtAuth::hs256(secret().as_bytes()))
        .db(Db::from_env_or_sqlite("agentos.db"))
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
