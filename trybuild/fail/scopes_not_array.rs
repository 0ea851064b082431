use agentos::prelude::*;

#[team_factory(id = "research", scopes = "teams:run")]
fn research() -> Team {
    Team::new("Research")
}

fn main() {}
