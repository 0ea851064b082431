use agentos::prelude::*;

#[workflow_factory(id = "pipeline")]
fn pipeline() -> Team {
    Team::new("Pipeline")
}

fn main() {}
