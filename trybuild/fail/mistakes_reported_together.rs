use agentos::prelude::*;

#[team_factory(id = "Research", colour = "blue", blocking)]
async fn research(ctx: RequestContext, extra: u8) -> Team {
    let _ = (ctx, extra);
    Team::new("Research")
}

fn main() {
    // The factory is still defined, so its uses add no errors.
    let _ = AgentOs::builder().team(research);
}
