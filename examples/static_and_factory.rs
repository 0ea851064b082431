//! A static (prototype) team and a factory side by side. Both go through the same resolution
//! pipeline: the prototype is copied for each request, the factory builds a new team.
//!
//! Run with:
//!     cargo run --example static_and_factory
//!
//! Then compare (`is_factory` tells them apart; both run the same way):
//!     curl -s http://127.0.0.1:7777/teams
//!     curl -s http://127.0.0.1:7777/teams/static-support-team/runs \
//!       -F message='Where is my invoice?' -F stream=false

use agentos::model::{ModelConfigError, from_env};
use agentos::prelude::*;
use agentos::store::Db;

fn members(tenant: &str) -> Result<Vec<Agent>, ModelConfigError> {
    let model = from_env("gpt-5.4")?;
    Ok(vec![
        Agent::new("Billing Agent")
            .with_role("Handle billing inquiries")
            .with_model(model.clone())
            .with_instruction(format!("You help tenant {tenant}.")),
        Agent::new("Tech Support Agent")
            .with_role("Handle technical issues")
            .with_model(model)
            .with_instruction(format!("You help tenant {tenant}.")),
    ])
}

/// Built once, at start-up; every request gets a copy.
fn static_support_team() -> Result<Team, ModelConfigError> {
    Ok(Team::new("Static Support Team")
        .with_model(from_env("gpt-5.4")?)
        .with_members(members("static")?)
        .with_instruction("Route billing questions to billing and technical ones to tech support."))
}

/// Built for each request, for the caller.
#[team_factory(id = "support-team", name = "Per-tenant Support Team")]
fn support_team(ctx: RequestContext) -> Result<Team, FactoryError> {
    Ok(Team::new("Support Team")
        .with_model(from_env("gpt-5.4")?)
        .with_members(members(ctx.user_id().unwrap_or("anonymous"))?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    AgentOs::builder()
        .team(static_support_team()?)
        .team(support_team)
        .db(Db::from_env_or_sqlite("agentos.db"))
        .playground(true)
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
