use agentos::prelude::*;

#[team_factory(id = "support", name = "Support", name = "Help")]
fn support() -> Team {
    Team::new("Support")
}

fn main() {}
