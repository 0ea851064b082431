use agentos::prelude::*;

#[team_factory(id = "research")]
fn research(ctx: RequestContext, verbose: bool) -> Team {
    let _ = (ctx, verbose);
    Team::new("Research")
}

fn main() {}
