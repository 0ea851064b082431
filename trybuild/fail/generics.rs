use agentos::prelude::*;

#[team_factory(id = "research")]
fn research<T: Default>() -> Team {
    let _ = T::default();
    Team::new("Research")
}

fn main() {}
