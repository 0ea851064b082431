use agentos::prelude::*;

#[team_factory(name = "Support")]
fn support() -> Team {
    Team::new("Support")
}

fn main() {}
