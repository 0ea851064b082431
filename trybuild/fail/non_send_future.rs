use std::rc::Rc;

use agentos::prelude::*;

async fn load() {}

#[team_factory(id = "research")]
async fn research() -> Team {
    let name = Rc::new("Research".to_owned());
    load().await;
    Team::new(name.as_str())
}

fn main() {}
