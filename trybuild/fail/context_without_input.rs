use agentos::prelude::*;

#[derive(Deserialize, Validate, JsonSchema)]
struct TeamConfig {
    #[garde(skip)]
    topic: String,
}

// `input = TeamConfig` is missing, so the context is `RequestContext<()>`.
#[team_factory(id = "research")]
fn research(ctx: RequestContext<TeamConfig>) -> Team {
    Team::new(ctx.input.topic)
}

fn main() {
    let _ = AgentOs::builder().team(research);
}
