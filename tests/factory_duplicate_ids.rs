//! Two factories with one id are refused when the server is assembled. (In a binary of its
//! own: `.discover()` elsewhere would find both.)

use agentos::prelude::*;

#[team_factory(id = "research")]
fn research_v1() -> Team {
    Team::new("Research")
}

#[team_factory(id = "research")]
async fn research_v2() -> Team {
    Team::new("Research, again")
}

#[tokio::test]
async fn two_factories_with_one_id_are_refused_naming_both() {
    let error = AgentOs::builder()
        .team(research_v1)
        .team(research_v2)
        .build()
        .await
        .err()
        .expect("duplicate ids must be refused");
    let message = error.to_string();
    assert!(message.contains("'research'"), "{message}");
    assert!(message.contains("research_v1"), "{message}");
    assert!(message.contains("research_v2"), "{message}");
}

#[tokio::test]
async fn discovery_refuses_them_too() {
    assert!(AgentOs::builder().discover().build().await.is_err());
}

#[tokio::test]
async fn the_same_factory_twice_is_refused_as_well() {
    // Explicit registration does not deduplicate; only `.discover()` skips what is there.
    let result = AgentOs::builder()
        .team(research_v1)
        .team(research_v1)
        .build()
        .await;
    assert!(result.is_err());
}
