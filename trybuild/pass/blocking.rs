use agentos::prelude::*;

#[derive(Deserialize, Validate, JsonSchema)]
struct Config {
    #[garde(range(max = 10))]
    agents: u8,
}

#[team_factory(id = "from-disk", input = Config, blocking)]
fn from_disk(ctx: RequestContext<Config>) -> Result<Team, FactoryError> {
    std::thread::sleep(std::time::Duration::from_millis(1));
    Ok(Team::new("Disk").with_members((0..ctx.input.agents).map(|i| Agent::new(format!("A{i}")))))
}

fn main() {
    let _ = AgentOs::builder().team(from_disk).build();
}
