use agentos::prelude::*;

#[team_factory(id = "research")]
async fn research() -> Result<Agent, FactoryError> {
    Ok(Agent::new("Researcher"))
}

fn main() {}
