//! agentos over MCP: `/mcp` (streamable HTTP) beside the REST routes on one port, with tokens
//! verified with `JWT_VERIFICATION_KEY` (HS256) on both. Any MCP client can list the tools and
//! run the research team, whose factory requires a typed input: its tool's schema carries
//! that input, and a bad value comes back as a tool error naming the field.
//!
//! Run with:
//!     cargo run --example mcp_server
//!
//! Mint a token (HS256 with `JWT_VERIFICATION_KEY`, or the demo secret the server logs):
//!     TOKEN=$(cargo run -q --example mcp_server -- mint tenant_42)
//!
//! Then try it (MCP's JSON-RPC over HTTP; an MCP client does this, and the rest, for you):
//!     curl -s http://127.0.0.1:7777/mcp -H "Authorization: Bearer $TOKEN" \
//!       -H 'accept: application/json, text/event-stream' -H 'content-type: application/json' \
//!       -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":
//!       "2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
//!
//! The same team answers over REST:
//!     curl -s http://127.0.0.1:7777/teams/research-team/runs -H "Authorization: Bearer $TOKEN" \
//!       -F message='What is new?' -F factory_input='{"topic": "tidal power"}' -F stream=false

use agentos::model::from_env;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::store::Db;

/// Used when `JWT_VERIFICATION_KEY` is not set; fine for trying the example, never for a
/// deployment.
const DEMO_SECRET: &str = "agentos-demo-secret-change-me-at-least-32-bytes";

/// What the research team works on.
#[derive(Deserialize, Validate, JsonSchema)]
struct ResearchInput {
    /// The topic to research.
    #[garde(length(min = 3, max = 80))]
    topic: String,
    /// How many sources to read, 1 to 5.
    #[serde(default = "three")]
    #[garde(range(min = 1, max = 5))]
    sources: u8,
}

fn three() -> u8 {
    3
}

#[team_factory(
    id = "research-team",
    input = ResearchInput,
    name = "Research Team",
    description = "Researches a topic for the caller and writes a short brief."
)]
fn research_team(ctx: RequestContext<ResearchInput>) -> Result<Team, FactoryError> {
    let model = from_env("gpt-5.4")?;
    let input = &ctx.input;
    Ok(Team::new("Research Team")
        .with_model(model.clone())
        .with_instruction(format!(
            "Research '{}' from at most {} sources, for {}.",
            input.topic,
            input.sources,
            ctx.user_id().unwrap_or("the caller")
        ))
        .with_members([
            Agent::new("Researcher")
                .with_role("Finds and reads sources")
                .with_model(model.clone()),
            Agent::new("Writer")
                .with_role("Writes the brief")
                .with_model(model),
        ]))
}

fn secret() -> String {
    std::env::var("JWT_VERIFICATION_KEY").unwrap_or_else(|_| DEMO_SECRET.to_owned())
}

/// `mint <sub>`: prints a token valid for an hour.
fn mint(args: &[String]) -> anyhow::Result<()> {
    let [sub] = args else {
        anyhow::bail!("usage: mcp_server mint <sub>");
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
    AgentOs::builder()
        .team(research_team)
        .auth(JwtAuth::hs256(secret().as_bytes()))
        .db(Db::from_env_or_sqlite("agentos.db"))
        .mcp(true)
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
