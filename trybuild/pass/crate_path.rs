extern crate agentos as my_agentos;

use my_agentos::prelude::{Agent, AgentOs, Team};

#[my_agentos::team_factory(id = "renamed", crate = my_agentos)]
fn renamed() -> Team {
    Team::new("Renamed")
}

#[my_agentos::agent_factory(id = "renamed-agent", crate = "my_agentos")]
fn renamed_agent() -> Agent {
    Agent::new("Renamed")
}

fn main() {
    let _ = AgentOs::builder().team(renamed).agent(renamed_agent).build();
}
