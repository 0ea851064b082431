use agentos::prelude::*;

const ID: &str = "support";

#[team_factory(id = ID)]
fn support() -> Team {
    Team::new("Support")
}

fn main() {}
