use agentos::prelude::*;

#[derive(Deserialize, Validate, JsonSchema)]
pub struct TeamConfig {
    #[garde(length(min = 1))]
    topic: String,
}

#[team_factory(id = "research-team", input = TeamConfig, name = "Research", description = "Researches")]
pub async fn research_team(ctx: RequestContext<TeamConfig>) -> Result<Team, FactoryError> {
    tokio::task::yield_now().await;
    Ok(Team::new(ctx.input.topic.clone()))
}

fn main() {
    let _ = AgentOs::builder().team(research_team).build();
}
