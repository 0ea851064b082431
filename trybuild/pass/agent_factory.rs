use agentos::prelude::*;

#[derive(Deserialize, Validate, JsonSchema)]
pub struct Persona {
    #[garde(length(max = 200))]
    style: String,
}

/// An agent with a configurable style.
#[agent_factory(id = "writer", input = Persona, description = "Writes")]
pub async fn writer(ctx: RequestContext<Persona>) -> Agent {
    Agent::new("Writer").with_instructions([format!("Write in a {} style.", ctx.input.style)])
}

#[agent_factory(id = "helper", blocking)]
fn helper() -> Result<Agent, FactoryError> {
    Ok(Agent::new("Helper"))
}

fn main() {
    let _ = AgentOs::builder().agent(writer).agent(helper).build();
}
