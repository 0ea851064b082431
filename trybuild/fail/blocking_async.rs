use agentos::prelude::*;

#[team_factory(id = "research", blocking)]
async fn research() -> Team {
    Team::new("Research")
}

fn main() {}
