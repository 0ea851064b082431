//! An async factory: the team's members come from an async lookup (a tenant directory here;
//! a database or an HTTP service in your code), awaited while the request is resolved.
//!
//! Run with:
//!     cargo run --example async_team_factory
//!
//! Then try it:
//!     curl -s http://127.0.0.1:7777/teams/async-support-team/runs \
//!       -F message='technical problem with my modem' -F user_id=tenant_42 -F stream=false

use std::time::Duration;

use agentos::model::from_env;
use agentos::prelude::*;
use agentos::store::Db;

/// What the directory knows of a tenant.
struct TenantPlan {
    specialists: Vec<(&'static str, &'static str)>,
}

/// Stands in for a call to a tenant service: it takes a moment and may fail.
async fn load_tenant_plan(tenant: &str) -> Result<TenantPlan, FactoryError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if tenant == "suspended" {
        return Err(FactoryError::permission("this tenant is suspended"));
    }
    Ok(TenantPlan {
        specialists: vec![
            ("Billing Agent", "Handle billing inquiries"),
            ("Tech Support Agent", "Handle technical issues"),
        ],
    })
}

/// Awaits the tenant's plan, then builds one agent per specialist in it.
#[team_factory(
    id = "async-support-team",
    name = "Async Support Team",
    description = "The support team, with members loaded by an async call."
)]
async fn async_support_team(ctx: RequestContext) -> Result<Team, FactoryError> {
    let tenant = ctx.user_id().unwrap_or("anonymous").to_owned();
    let plan = load_tenant_plan(&tenant).await?;
    let model = from_env("gpt-5.4")?;
    let members: Vec<Agent> = plan
        .specialists
        .into_iter()
        .map(|(name, role)| {
            Agent::new(name)
                .with_role(role)
                .with_model(model.clone())
                .with_instruction(format!("You serve tenant {tenant}."))
        })
        .collect();
    Ok(Team::new("Support Team")
        .with_model(model)
        .with_members(members))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .init();
    AgentOs::builder()
        .team(async_support_team)
        .db(Db::from_env_or_sqlite("agentos.db"))
        .playground(true)
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}
