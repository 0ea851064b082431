use agentos::prelude::*;

#[team_factory(id = "research")]
fn research() -> String {
    "Research".to_owned()
}

fn main() {}
