use agentos::prelude::*;

#[team_factory(id = "admin", scopes = ["teams:run", "admin"], name = "Admin")]
fn admin() -> Team {
    Team::new("Admin")
}

#[team_factory(id = "open", scopes = [])]
fn open() -> Team {
    Team::new("Open")
}

fn main() {
    assert_eq!(admin.info().scopes, ["teams:run", "admin"]);
    let _ = AgentOs::builder().team(admin).team(open).build();
}
