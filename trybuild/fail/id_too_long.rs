use agentos::prelude::*;

#[team_factory(id = "a-very-long-team-identifier-that-goes-on-and-on-past-the-route-limit")]
fn support() -> Team {
    Team::new("Support")
}

fn main() {}
