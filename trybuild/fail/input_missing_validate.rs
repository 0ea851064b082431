use agentos::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Config {
    topic: String,
}

#[team_factory(id = "research", input = Config)]
fn research(ctx: RequestContext<Config>) -> Team {
    Team::new(ctx.input.topic)
}

fn main() {
    let _ = AgentOs::builder().team(research);
}
