//! An agent factory: one agent per tenant, with tools, in the tone the caller asks for.
//!
//! Run with:
//!     cargo run --example agent_factory
//!
//! Then try it:
//!     curl -s http://127.0.0.1:7777/agents/tenant-agent/runs \
//!       -F message='What is my plan?' -F user_id=tenant_42 -F stream=false \
//!       -F factory_input='{"tone": "friendly"}'

use agentos::model::from_env;
use agentos::prelude::*;
use agentos::store::Db;

/// How the agent should sound.
#[derive(Deserialize, Validate, JsonSchema)]
struct AgentConfig {
    /// A word or two, such as `friendly` or `formal`.
    #[serde(default = "neutral")]
    #[garde(length(min = 1, max = 32))]
    tone: String,
}

fn neutral() -> String {
    "neutral".to_owned()
}

/// Looks up the subscription plan of a tenant.
#[tool]
async fn lookup_plan(
    /// The tenant's id.
    tenant: String,
) -> String {
    // A real tool would ask the billing service; the example answers from a fixed table.
    match tenant.as_str() {
        "tenant_42" => "Enterprise, renews on the 1st".to_owned(),
        _ => "Free".to_owned(),
    }
}

/// Opens a support ticket and returns its number.
#[tool]
fn open_ticket(
    /// What the problem is, in one line.
    summary: String,
) -> String {
    format!("ticket #{} opened: {summary}", summary.len() * 7 + 1000)
}

#[agent_factory(
    id = "tenant-agent",
    input = AgentConfig,
    name = "Per-tenant assistant",
    description = "Builds a personalised agent per tenant."
)]
fn tenant_agent(ctx: RequestContext<AgentConfig>) -> Result<Agent, FactoryError> {
    let tenant = ctx.user_id().unwrap_or("anonymous");
    Ok(Agent::new("Tenant Agent")
        .with_model(from_env("gpt-4o-mini")?)
        .with_instruction(format!("You assist tenant {tenant}."))
        .with_instruction(format!("Answer in a {} tone.", ctx.input.tone))
        .with_tool(lookup_plan)
        .with_tool(open_ticket))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    AgentOs::builder()
        .agent(tenant_agent)
        .db(Db::from_env_or_sqlite("agentos.db"))
        .playground(true)
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
