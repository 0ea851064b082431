//! The memory store: each memory belongs to a user within a namespace (a tenant), and no
//! read or write reaches another user's, or the same user id's in another namespace. Runs on
//! SQLite, and on PostgreSQL with `AGENTOS_TEST_DB=postgres` (as `.ci/run` does).

mod support;

use agentos::store::{MemoryOwner, MemoryQuery, NewMemory, Store};
use support::db::TestDb;

fn owner(namespace: &str, user: &str) -> MemoryOwner {
    MemoryOwner {
        namespace: namespace.to_owned(),
        user_id: user.to_owned(),
    }
}

fn fact(text: &str, topics: &[&str]) -> NewMemory {
    NewMemory {
        memory: text.to_owned(),
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        agent_id: Some("support-agent".to_owned()),
        ..NewMemory::default()
    }
}

#[tokio::test]
async fn memories_stay_with_their_user_and_namespace() {
    let db = TestDb::new().await;
    let store = Store::connect(&db.db()).await.unwrap();
    let alice = owner("acme", "alice");
    let other_user = owner("acme", "bob");
    let other_tenant = owner("globex", "alice");
    let kept = store
        .add_memory(&alice, fact("Alice prefers email", &["contact"]))
        .await
        .unwrap();
    store
        .add_memory(&other_user, fact("Bob prefers phone", &["contact"]))
        .await
        .unwrap();
    store
        .add_memory(
            &other_tenant,
            fact("Globex Alice is on the night shift", &["work"]),
        )
        .await
        .unwrap();

    let all = MemoryQuery::default();
    let listed = store.list_memories(&alice, &all).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].memory, "Alice prefers email");
    assert_eq!(listed[0].owner, alice);
    for stranger in [&other_user, &other_tenant] {
        let theirs = store.list_memories(stranger, &all).await.unwrap();
        assert_eq!(theirs.len(), 1);
        assert_ne!(theirs[0].memory_id, kept.memory_id);
        // Alice's memory is missing to them, for every read and write.
        assert_eq!(store.memory(stranger, &kept.memory_id).await.unwrap(), None);
        let changed = store
            .update_memory(stranger, &kept.memory_id, "overwritten".into(), None)
            .await
            .unwrap();
        assert_eq!(changed, None);
        let deleted = store
            .delete_memories(stranger, std::slice::from_ref(&kept.memory_id))
            .await
            .unwrap();
        assert_eq!(deleted, 0);
    }
    let still = store
        .memory(&alice, &kept.memory_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.memory, "Alice prefers email");
    assert_eq!(
        store.memory_topics(&other_tenant).await.unwrap(),
        ["work"],
        "topics are the owner's only"
    );
}

#[tokio::test]
async fn memories_are_updated_searched_and_deleted_by_their_owner() {
    let db = TestDb::new().await;
    let store = Store::connect(&db.db()).await.unwrap();
    let carol = owner("", "carol");
    let first = store
        .add_memory(&carol, fact("Carol lives in Lisbon", &["home"]))
        .await
        .unwrap();
    let second = store
        .add_memory(
            &carol,
            fact("Carol's router is a Fritz!Box", &["devices", "home"]),
        )
        .await
        .unwrap();
    store
        .add_memory(&carol, fact("Carol pays yearly", &["billing"]))
        .await
        .unwrap();

    let updated = store
        .update_memory(
            &carol,
            &first.memory_id,
            "Carol lives in Porto".into(),
            Some(vec!["home".into(), "moves".into()]),
        )
        .await
        .unwrap()
        .expect("her own memory");
    assert_eq!(updated.memory, "Carol lives in Porto");
    assert_eq!(updated.topics, ["home", "moves"]);
    assert!(updated.updated_at >= first.updated_at);
    assert_eq!(updated.created_at, first.created_at);

    // Newest update first; the updated one leads.
    let newest = store
        .list_memories(&carol, &MemoryQuery::default())
        .await
        .unwrap();
    assert_eq!(newest.len(), 3);
    assert_eq!(newest[0].memory_id, first.memory_id);

    let search = MemoryQuery {
        search: Some("FRITZ".into()),
        ..MemoryQuery::default()
    };
    let found = store.list_memories(&carol, &search).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].memory_id, second.memory_id);

    let by_topic = MemoryQuery {
        topics: vec!["moves".into(), "devices".into()],
        ..MemoryQuery::default()
    };
    assert_eq!(
        store.list_memories(&carol, &by_topic).await.unwrap().len(),
        2
    );
    assert_eq!(
        store.memory_topics(&carol).await.unwrap(),
        ["billing", "devices", "home", "moves"]
    );

    let deleted = store
        .delete_memories(
            &carol,
            &[first.memory_id.clone(), "no-such-memory".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(store.memory(&carol, &first.memory_id).await.unwrap(), None);
    assert_eq!(
        store
            .list_memories(&carol, &MemoryQuery::default())
            .await
            .unwrap()
            .len(),
        2
    );
}
