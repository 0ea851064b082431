use agentos::prelude::*;

#[team_factory(id = "support", title = "Support")]
fn support() -> Team {
    Team::new("Support")
}

fn main() {}
