use agentos::prelude::*;

#[derive(Debug)]
struct SetupError(String);

impl From<SetupError> for FactoryError {
    fn from(error: SetupError) -> Self {
        FactoryError::internal(error.0)
    }
}

#[team_factory(id = "fallible")]
async fn fallible() -> Result<Team, SetupError> {
    Err(SetupError("no database".into()))
}

#[team_factory(id = "fallible-sync")]
fn fallible_sync(_ctx: RequestContext<()>) -> Result<Team, SetupError> {
    Ok(Team::new("Sync"))
}

fn main() {
    let _ = AgentOs::builder().team(fallible).team(fallible_sync).build();
}
