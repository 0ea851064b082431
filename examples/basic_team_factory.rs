//! The seed: a support team built per request, with instructions for the calling tenant.
//!
//! Run with:
//!     cargo run --example basic_team_factory
//!
//! Then try it (the leader delegates to the Billing Agent or the Tech Support Agent):
//!     curl -s http://127.0.0.1:7777/teams/support-team/runs \
//!       -F message='I need help with billing' -F user_id=tenant_42 -F stream=false
//!
//! Without `OPENAI_API_KEY` (or `OPENAI_BASE_URL`) the agents run on the offline `TestModel`,
//! and the log says so. With `AGENTOS_MEMORY=on` the team remembers each user (captured after
//! each run, read by the members), as the load benchmark's `--memory` mode measures.

use agentos::model::{ModelHandle, from_env};
use agentos::prelude::*;
use agentos::store::Db;

fn billing_agent(model: &ModelHandle, tenant: &str) -> Agent {
    Agent::new("Billing Agent")
        .with_role("Handle billing inquiries")
        .with_model(model.clone())
        .with_instruction(format!(
            "You help tenant {tenant} with invoices, plans and refunds."
        ))
}

fn tech_support_agent(model: &ModelHandle, tenant: &str) -> Agent {
    Agent::new("Tech Support Agent")
        .with_role("Handle technical issues")
        .with_model(model.clone())
        .with_instruction(format!(
            "You help tenant {tenant} with outages and devices."
        ))
}

/// One team per request: the members' instructions name the tenant that is asking.
#[team_factory(
    id = "support-team",
    name = "Per-tenant Support Team",
    description = "Builds a support team with billing and tech agents per tenant."
)]
fn support_team(ctx: RequestContext) -> Result<Team, FactoryError> {
    let tenant = ctx.user_id().unwrap_or("anonymous");
    let model = from_env("gpt-5.4")?;
    let members = [
        billing_agent(&model, tenant),
        tech_support_agent(&model, tenant),
    ];
    let team = Team::new("Support Team")
        .with_model(model.clone())
        .with_instructions([
            format!("You are the support team leader for tenant {tenant}."),
            "Route billing questions to the Billing Agent and technical issues to the Tech Support Agent.".to_owned(),
        ])
        .with_markdown(true);
    if !remembering() {
        return Ok(team.with_members(members));
    }
    Ok(team
        .with_members(members.map(|member| member.with_memory(Memory::read_only())))
        .with_memory(Memory::after_run()))
}

/// `AGENTOS_MEMORY=on`: the team remembers its users.
fn remembering() -> bool {
    std::env::var("AGENTOS_MEMORY").is_ok_and(|value| value == "on")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,agentos_runtime=info".into()),
        )
        .init();
    // Sessions live in agentos.db next to where you run it (or PostgreSQL via DATABASE_URL).
    let os = AgentOs::builder()
        .os_id("basic-team-factory")
        .team(support_team)
        .db(Db::from_env_or_sqlite("agentos.db"))
        .playground(true)
        // The same teams over MCP at /mcp, for MCP clients (see the README).
        .mcp(true)
        .build()
        .await?;
    let addr = std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".to_owned());
    os.serve(addr).await?;
    Ok(())
}
