use agentos::prelude::*;

#[team_factory(id = "queue-team", multitask = "queue")]
fn queue_team() -> Team {
    Team::new("Queue")
}

fn main() {}
