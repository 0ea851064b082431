use agentos::prelude::*;
use agentos::runs::MultitaskStrategy;

#[team_factory(id = "queue-team", multitask = "enqueue")]
fn queue_team() -> Team {
    Team::new("Queue")
}

#[agent_factory(id = "strict-agent", multitask = "reject")]
fn strict_agent() -> Agent {
    Agent::new("Strict")
}

fn main() {
    assert_eq!(queue_team.info().multitask, Some(MultitaskStrategy::Enqueue));
    assert_eq!(strict_agent.info().multitask, Some(MultitaskStrategy::Reject));
}
