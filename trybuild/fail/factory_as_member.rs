use agentos::prelude::*;

#[agent_factory(id = "researcher")]
fn researcher() -> Agent {
    Agent::new("Researcher")
}

fn main() {
    // A factory builds a member per request; it is not a member itself.
    let _ = Team::new("Research").with_member(researcher);
}
