use agentos::prelude::*;

#[derive(Deserialize, Validate)]
struct Config {
    #[garde(skip)]
    topic: String,
}

#[team_factory(id = "research", input = Config)]
fn research(ctx: RequestContext<Config>) -> Team {
    Team::new(ctx.input.topic)
}

fn main() {
    let _ = AgentOs::builder().team(research);
}
