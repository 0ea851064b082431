//! A team shaped by verified JWT claims: its members and model follow the `tier` claim, its
//! tools the `role` claim. Nothing in the request body can change either.
//!
//! - tier `free`: Billing and Tech Support agents on a small model;
//!   tier `enterprise`: a Reviewer joins, on the larger model.
//! - role `viewer`: may list documents; role `admin`: may also invite members;
//!   any other role: 403.
//!
//! Run with:
//!     cargo run --example jwt_tiered_team
//!
//! Mint a token (HS256 with `JWT_VERIFICATION_KEY`, or the demo secret the server logs):
//!     TOKEN=$(cargo run -q --example jwt_tiered_team -- mint tenant_42 enterprise admin)
//!
//! Then try it:
//!     curl -s http://127.0.0.1:7777/teams/tiered-team/runs \
//!       -H "Authorization: Bearer $TOKEN" -F message='List my documents' -F stream=false

use agentos::model::from_env;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::store::Db;

/// Used when `JWT_VERIFICATION_KEY` is not set; fine for trying the example, never for a
/// deployment.
const DEMO_SECRET: &str = "agentos-demo-secret-change-me-at-least-32-bytes";

/// Lists the documents in the caller's workspace.
#[tool]
fn list_documents(
    /// Only documents whose title contains this text.
    filter: Option<String>,
) -> String {
    let documents = [
        "Q3 invoice.pdf",
        "Router manual.pdf",
        "Onboarding checklist.md",
    ];
    let shown: Vec<&str> = documents
        .iter()
        .copied()
        .filter(|d| filter.as_deref().is_none_or(|f| d.contains(f)))
        .collect();
    shown.join(", ")
}

/// Invites a person to the caller's workspace.
#[tool]
fn invite_member(
    /// The address to send the invitation to.
    email: String,
) -> Result<String, String> {
    if !email.contains('@') {
        return Err(format!("'{email}' is not an email address"));
    }
    Ok(format!("invitation sent to {email}"))
}

#[team_factory(
    id = "tiered-team",
    name = "Tiered Support Team",
    description = "Members and model follow the verified tier; tools follow the verified role."
)]
fn tiered_team(ctx: RequestContext) -> Result<Team, FactoryError> {
    let trusted = ctx.trusted();
    let workspace = match trusted.claim_str("role") {
        Some("viewer") => Agent::new("Workspace Agent").with_tool(list_documents),
        Some("admin") => Agent::new("Workspace Agent")
            .with_tool(list_documents)
            .with_tool(invite_member),
        Some(other) => {
            return Err(FactoryError::permission(format!(
                "the role '{other}' may not use this team"
            )));
        }
        None => return Err(FactoryError::permission("a role claim is required")),
    };
    let enterprise = trusted.claim_str("tier") == Some("enterprise");
    let model = from_env(if enterprise {
        "gpt-5.4"
    } else {
        "gpt-5.4-mini"
    })?;
    let mut members = vec![
        Agent::new("Billing Agent")
            .with_role("Handle billing inquiries")
            .with_model(model.clone()),
        Agent::new("Tech Support Agent")
            .with_role("Handle technical issues")
            .with_model(model.clone()),
    ];
    if enterprise {
        members.push(
            Agent::new("Reviewer Agent")
                .with_role("Check every answer before it goes out")
                .with_model(model.clone()),
        );
    }
    members.push(
        workspace
            .with_role("List documents and manage members of the workspace")
            .with_model(model.clone()),
    );
    Ok(Team::new("Tiered Support Team")
        .with_model(model)
        .with_members(members))
}

fn secret() -> String {
    std::env::var("JWT_VERIFICATION_KEY").unwrap_or_else(|_| DEMO_SECRET.to_owned())
}

/// `mint <sub> <tier> <role>`: prints a token valid for an hour.
fn mint(args: &[String]) -> anyhow::Result<()> {
    let [sub, tier, role] = args else {
        anyhow::bail!("usage: jwt_tiered_team mint <sub> <tier> <role>");
    };
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": sub, "tier": tier, "role": role, "exp": exp});
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
        .team(tiered_team)
        .auth(JwtAuth::hs256(secret().as_bytes()))
        .db(Db::from_env_or_sqlite("agentos.db"))
        .playground(true)
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
