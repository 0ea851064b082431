use agentos::prelude::*;

#[team_factory(id = "research")]
struct Research;

fn main() {
    let _ = Research;
}
