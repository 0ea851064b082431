use agentos::prelude::*;

#[team_factory(id = "Support Team")]
fn support() -> Team {
    Team::new("Support")
}

fn main() {}
