use agentos::prelude::*;

#[team_factory(id = "research")]
fn research() -> Result<Team, std::io::Error> {
    Ok(Team::new("Research"))
}

fn main() {}
