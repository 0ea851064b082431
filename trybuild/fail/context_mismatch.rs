use agentos::prelude::*;

#[derive(Deserialize, Validate, JsonSchema)]
struct TeamConfig {
    #[garde(skip)]
    topic: String,
}

#[derive(Deserialize, Validate, JsonSchema)]
struct Other {
    #[garde(skip)]
    topic: String,
}

#[team_factory(id = "research", input = TeamConfig)]
fn research(ctx: RequestContext<Other>) -> Team {
    Team::new(ctx.input.topic)
}

fn main() {
    let _ = AgentOs::builder().team(research);
}
