use agentos::prelude::*;

#[team_factory(id = "research")]
fn research(topic: String) -> Team {
    Team::new(topic)
}

fn main() {}
