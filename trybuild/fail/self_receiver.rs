use agentos::prelude::*;

struct Factories;

impl Factories {
    #[team_factory(id = "research")]
    fn research(&self) -> Team {
        Team::new("Research")
    }
}

fn main() {}
