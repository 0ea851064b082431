use agentos::prelude::*;

#[team_factory(id = "research")]
fn research() {
    let _ = Team::new("Research");
}

fn main() {}
