//! Typed factory input: the caller chooses the team's shape with `factory_input`, checked by
//! serde and garde before the factory runs.
//!
//! Run with:
//!     cargo run --example team_factory_input
//!
//! Then try it (a reviewer joins the team):
//!     curl -s http://127.0.0.1:7777/teams/configurable-support-team/runs \
//!       -F message='Please review my refund' -F stream=false \
//!       -F factory_input='{"include_reviewer": true}'
//!
//! A value out of bounds answers 400 with the field's path in `errors[].loc`:
//!     curl -s http://127.0.0.1:7777/teams/panel-team/runs \
//!       -F message='Should we ship on Friday?' -F stream=false \
//!       -F factory_input='{"panelists": 9, "tone": "formal"}'

use agentos::model::from_env;
use agentos::prelude::*;
use agentos::store::Db;

/// Whether the support team gets a reviewer.
#[derive(Deserialize, Validate, JsonSchema)]
struct TeamConfig {
    /// Adds a Reviewer Agent who checks the answer.
    #[serde(default)]
    #[garde(skip)]
    include_reviewer: bool,
}

#[team_factory(
    id = "configurable-support-team",
    input = TeamConfig,
    name = "Configurable Support Team",
    description = "Support team whose composition is chosen by factory_input."
)]
fn configurable_support_team(ctx: RequestContext<TeamConfig>) -> Result<Team, FactoryError> {
    let model = from_env("gpt-5.4")?;
    let mut members = vec![
        Agent::new("Billing Agent")
            .with_role("Handle billing inquiries")
            .with_model(model.clone()),
        Agent::new("Tech Support Agent")
            .with_role("Handle technical issues")
            .with_model(model.clone()),
    ];
    if ctx.input.include_reviewer {
        members.push(
            Agent::new("Reviewer Agent")
                .with_role("Check answers for accuracy and tone")
                .with_model(model.clone()),
        );
    }
    Ok(Team::new("Configurable Support Team")
        .with_model(model)
        .with_members(members))
}

/// The tone panelists write in.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Tone {
    Casual,
    Formal,
}

/// A panel of one to five members, in one tone.
#[derive(Deserialize, Validate, JsonSchema)]
struct PanelConfig {
    /// How many panelists, 1 to 5.
    #[garde(range(min = 1, max = 5))]
    panelists: u8,
    /// How they write.
    #[serde(default = "casual")]
    #[garde(skip)]
    tone: Tone,
}

fn casual() -> Tone {
    Tone::Casual
}

#[team_factory(id = "panel-team", input = PanelConfig, name = "Panel")]
fn panel_team(ctx: RequestContext<PanelConfig>) -> Result<Team, FactoryError> {
    let model = from_env("gpt-5.4")?;
    let tone = match ctx.input.tone {
        Tone::Casual => "Write casually.",
        Tone::Formal => "Write formally.",
    };
    let members = (1..=ctx.input.panelists).map(|n| {
        Agent::new(format!("Panelist {n}"))
            .with_model(model.clone())
            .with_instruction(tone)
    });
    Ok(Team::new("Panel")
        .with_mode(TeamMode::Broadcast)
        .with_model(model.clone())
        .with_members(members))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    AgentOs::builder()
        .team(configurable_support_team)
        .team(panel_team)
        .db(Db::from_env_or_sqlite("agentos.db"))
        .playground(true)
        .build()
        .await?
        .serve(std::env::var("AGENTOS_ADDR").unwrap_or_else(|_| "127.0.0.1:7777".into()))
        .await?;
    Ok(())
}
