use agentos::prelude::*;

#[team_factory(id = "support")]
fn support() -> Team {
    Team::new("Support").with_member(Agent::new("Helper"))
}

/// A context parameter without `input` is `RequestContext<()>`, or just `RequestContext`.
#[team_factory(id = "support-ctx")]
fn support_ctx(ctx: RequestContext) -> Team {
    let _ = ctx.user_id();
    Team::new("Support")
}

fn main() {
    let _ = AgentOs::builder().team(support).team(support_ctx).build();
}
