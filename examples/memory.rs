//! Memory: an agent and a team, built per request by factories, that remember each user
//! across sessions. What a user tells them is captured after the answer is sent, and goes into
//! the prompts of that user's later runs. Memories belong to a user within a tenant, and the
//! tenant is the verified token's `tenant` claim (`JwtAuth::namespace_claim("tenant")`): the
//! same user id in another tenant is another user, and nothing in a request can change that.
//!
//! Run with (the model from `AGENTOS_MODEL` or the provider variables, else the offline
//! `TestModel`, whose answers show what it was told of the user):
//!     cargo run --example memory
//!
//! Mint a token (HS256 with `JWT_VERIFICATION_KEY`, or the demo secret the server logs):
//!     TOKEN=$(cargo run -q --example memory -- mint ada acme)
//!
//! Then tell it something in one session and ask in another:
//!     curl -s http://127.0.0.1:7777/agents/concierge/runs -H "Authorization: Bearer $TOKEN" \
//!       -F message='I am vegetarian and I live in Porto' -F stream=false
//!     curl -s http://127.0.0.1:7777/memories -H "Authorization: Bearer $TOKEN"
//!     curl -s http://127.0.0.1:7777/agents/concierge/runs -H "Authorization: Bearer $TOKEN" \
//!       -F message='What should I cook tonight?' -F stream=false

use agentos::model::from_env;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::store::Db;

/// Used when `JWT_VERIFICATION_KEY` is not set; fine for trying the example, never for a
/// deployment.
const DEMO_SECRET: &str = "agentos-demo-secret-change-me-at-least-32-bytes";

fn secret() -> String {
    std::env::var("JWT_VERIFICATION_KEY")
        .ok()
        .filter(|key| !key.is_empty())
        .unwrap_or_else(|| DEMO_SECRET.to_owned())
}

/// An assistant that captures what each user tells it, after each answer.
#[agent_factory(
    id = "concierge",
    name = "Concierge",
    description = "Remembers each user across sessions."
)]
fn concierge(ctx: RequestContext) -> Result<Agent, FactoryError> {
    Ok(Agent::new("Concierge")
        .with_model(from_env("gpt-4o-mini")?)
        .with_instruction(format!(
            "You help {} plan their days; use what you remember of them.",
            ctx.user_id().unwrap_or("the user")
        ))
        .with_memory(Memory::after_run().with_max_memories(10)))
}

/// A team whose leader captures, and whose planner reads what the team remembers.
#[team_factory(
    id = "travel-desk",
    name = "Travel Desk",
    description = "Plans trips for each user, remembering their preferences."
)]
fn travel_desk(_ctx: RequestContext) -> Result<Team, FactoryError> {
    let model = from_env("gpt-4o-mini")?;
    Ok(Team::new("Travel Desk")
        .with_model(model.clone())
        .with_instruction("Delegate the planning to the Planner.")
        .with_memory(Memory::after_run())
        .with_members([Agent::new("Planner")
            .with_role("Plans trips around what the traveller likes")
            .with_model(model)
            .with_memory(Memory::read_only())]))
}

/// `mint <sub> <tenant>`: prints a token for `sub` in `tenant`, valid for an hour.
fn mint(args: &[String]) -> anyhow::Result<()> {
    let [sub, tenant] = args else {
        anyhow::bail!("usage: memory mint <sub> <tenant>");
    };
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": sub, "tenant": tenant, "exp": exp});
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
        .agent(concierge)
        .team(travel_desk)
        // Memories are kept per user within the token's `tenant` claim.
        .auth(JwtAuth::hs256(secret().as_bytes()).namespace_claim("tenant"))
        .db(Db::from_env_or_sqlite("agentos.db"))
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
