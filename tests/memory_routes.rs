//! agno's memory routes over HTTP: `/memories`, `/memories/{id}`, `/memory_topics`,
//! `/user_memory_stats`. A user reaches their own memories only, whatever `user_id` they
//! send; the same user id in another tenant is another user; an admin reaches every user of
//! their own tenant; bad input gets agno's answers and writes nothing. Runs on SQLite, and on
//! PostgreSQL with `AGENTOS_TEST_DB=postgres` (as `.ci/run` does).

mod support;

use agentos::server::JwtAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestServer, builder, client};

const SECRET: &[u8] = b"memory-routes-test-secret";

/// A token for `sub` in tenant `tenant` with `scopes`.
fn token(sub: &str, tenant: &str, scopes: &[&str]) -> String {
    let claims = json!({"sub": sub, "tenant": tenant, "scopes": scopes, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("token")
}

const USER: &[&str] = &["memories:read", "memories:write", "memories:delete"];

async fn tenant_server() -> TestServer {
    let auth = JwtAuth::hs256(SECRET)
        .namespace_claim("tenant")
        .check_route_scopes(true);
    TestServer::with(builder().auth(auth)).await
}

/// A request's status and JSON body (`null` for an empty one).
async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON body")
    };
    (status, body)
}

fn ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["memory_id"].as_str().expect("memory_id"))
        .collect()
}

#[tokio::test]
async fn each_user_reaches_only_their_own_memories_in_their_own_tenant() {
    let server = tenant_server().await;
    let http = client();
    let alice = token("alice", "acme", USER);
    let bob = token("bob", "acme", USER);
    let other_alice = token("alice", "globex", USER);
    let admin = token("root", "acme", &["agent_os:admin"]);

    // The body's user_id is ignored for a user: the memory is Alice's.
    let (status, created) =
        call(http.post(server.url("/memories")).bearer_auth(&alice).json(
            &json!({"memory": "Alice prefers email", "user_id": "bob", "topics": ["contact"]}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["user_id"], "alice");
    assert_eq!(created["memory"], "Alice prefers email");
    assert_eq!(created["topics"], json!(["contact"]));
    assert_eq!(created["agent_id"], Value::Null);
    let updated_at = created["updated_at"].as_str().expect("updated_at");
    assert!(
        updated_at.ends_with('Z') && updated_at.len() == 20,
        "{updated_at}"
    );
    let id = created["memory_id"].as_str().unwrap().to_owned();
    let path = format!("/memories/{id}");
    for (who, text) in [
        (&bob, "Bob prefers phone"),
        (&other_alice, "Globex Alice works nights"),
    ] {
        let (status, _) = call(
            http.post(server.url("/memories"))
                .bearer_auth(who)
                .json(&json!({"memory": text, "topics": ["contact"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    // Bob, and Alice of another tenant, find nothing of Alice's, and change nothing.
    for stranger in [&bob, &other_alice] {
        let (status, body) = call(http.get(server.url(&path)).bearer_auth(stranger)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["detail"], "Memory not found");
        let (status, _) = call(
            http.patch(server.url(&path))
                .bearer_auth(stranger)
                .json(&json!({"memory": "overwritten", "user_id": "alice"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(http.delete(server.url(&path)).bearer_auth(stranger)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = call(
            http.delete(server.url("/memories"))
                .bearer_auth(stranger)
                .json(&json!({"memory_ids": [id], "user_id": "alice"})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, page) = call(
            http.get(server.url("/memories?user_id=alice"))
                .bearer_auth(stranger),
        )
        .await;
        assert_eq!(page["meta"]["total_count"], 1, "only their own: {page}");
        assert!(!ids(&page).contains(&id.as_str()));
    }
    let (status, kept) = call(http.get(server.url(&path)).bearer_auth(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        kept["memory"], "Alice prefers email",
        "untouched by the others"
    );

    // The admin of acme sees acme's users, one or all, and never globex's.
    let (_, page) = call(http.get(server.url("/memories")).bearer_auth(&admin)).await;
    assert_eq!(page["meta"]["total_count"], 2, "{page}");
    let mut users: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    users.sort();
    assert_eq!(users, ["alice", "bob"]);
    let (_, page) = call(
        http.get(server.url("/memories?user_id=alice"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(ids(&page), [id.as_str()]);
    let (_, stats) = call(
        http.get(server.url("/user_memory_stats"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(stats["meta"]["total_count"], 2, "{stats}");
    assert_eq!(stats["data"][0]["total_memories"], 1);
    let (_, stats) = call(http.get(server.url("/user_memory_stats")).bearer_auth(&bob)).await;
    assert_eq!(
        stats["data"],
        json!([{
            "user_id": "bob",
            "total_memories": 1,
            "last_memory_updated_at": stats["data"][0]["last_memory_updated_at"],
        }])
    );

    // The admin may change a user's memory by naming them.
    let (status, changed) = call(
        http.patch(server.url(&path))
            .bearer_auth(&admin)
            .json(&json!({"memory": "Alice prefers email, never calls", "user_id": "alice", "topics": ["contact", "email"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["topics"], json!(["contact", "email"]));
    let (_, topics) = call(http.get(server.url("/memory_topics")).bearer_auth(&alice)).await;
    assert_eq!(topics, json!(["contact", "email"]));

    // A token without the scope is refused; one with it deletes.
    let reader = token("alice", "acme", &["memories:read"]);
    let (status, _) = call(http.delete(server.url(&path)).bearer_auth(&reader)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(http.delete(server.url(&path)).bearer_auth(&alice)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(http.get(server.url(&path)).bearer_auth(&alice)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(http.get(server.url("/memories"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_memories_get_agnos_answers_and_nothing_is_written() {
    let server = tenant_server().await;
    let http = client();
    let alice = token("alice", "acme", USER);
    let admin = token("root", "acme", &["agent_os:admin"]);
    let post = |body: Value| {
        http.post(server.url("/memories"))
            .bearer_auth(&alice)
            .json(&body)
    };

    let (status, body) = call(post(json!({"memory": ""}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "string_too_short");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "memory"]));
    let (status, body) = call(post(json!({"memory": "x".repeat(5_001)}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "string_too_long");
    for malformed in [
        json!({"memory": "a fact", "topics": "contact"}),
        json!({"memory": "a fact", "topics": [1, 2]}),
        json!({"topics": ["contact"]}),
    ] {
        let (status, body) = call(post(malformed.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{malformed}");
        assert!(body["detail"].is_array(), "{body}");
    }
    let (status, body) = call(post(json!({"memory": "a\u{0}b"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].is_string());
    // An admin must name the user a memory is about.
    let (status, body) = call(
        http.post(server.url("/memories"))
            .bearer_auth(&admin)
            .json(&json!({"memory": "about nobody"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "User ID is required");
    let (_, page) = call(http.get(server.url("/memories")).bearer_auth(&admin)).await;
    assert_eq!(
        page["meta"]["total_count"], 0,
        "nothing was written: {page}"
    );

    // The longest memory is taken; a change to an empty text is refused and changes nothing.
    let longest = "y".repeat(5_000);
    let (status, created) = call(post(json!({"memory": longest}))).await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/memories/{}", created["memory_id"].as_str().unwrap());
    let (status, _) = call(
        http.patch(server.url(&path))
            .bearer_auth(&alice)
            .json(&json!({"memory": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, kept) = call(http.get(server.url(&path)).bearer_auth(&alice)).await;
    assert_eq!(kept["memory"], longest);
    let (status, _) = call(
        http.get(server.url("/memories/no-such-memory"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        http.delete(server.url("/memories"))
            .bearer_auth(&alice)
            .json(&json!({"memory_ids": []})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "memory_ids"]));
    let (status, _) = call(
        http.get(server.url("/memories?sort_order=sideways"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        http.get(server.url("/memories?limit=0"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn without_authentication_memories_are_the_named_users_and_pages_filter_and_sort() {
    let server = TestServer::with(builder()).await;
    let http = client();
    let (status, body) = call(
        http.post(server.url("/memories"))
            .json(&json!({"memory": "about nobody"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "User ID is required");

    let facts = [
        ("carol", "Carol likes tea", vec!["food"]),
        ("carol", "Carol lives in Lisbon", vec!["home"]),
        ("carol", "Carol likes TEA cakes", vec!["food", "sweets"]),
        ("dave", "Dave likes coffee", vec!["food"]),
    ];
    let mut carol_ids = Vec::new();
    for (user, memory, topics) in facts {
        let (status, created) = call(
            http.post(server.url("/memories"))
                .json(&json!({"memory": memory, "user_id": user, "topics": topics})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        if user == "carol" {
            carol_ids.push(created["memory_id"].as_str().unwrap().to_owned());
        }
        // Distinct update times, so the order is the order written.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let (_, page) = call(http.get(server.url("/memories?user_id=carol&limit=2"))).await;
    assert_eq!(page["meta"]["total_count"], 3);
    assert_eq!(page["meta"]["total_pages"], 2);
    assert_eq!(page["meta"]["limit"], 2);
    assert_eq!(
        ids(&page),
        [carol_ids[2].as_str(), carol_ids[1].as_str()],
        "newest first"
    );
    let (_, page) = call(http.get(server.url("/memories?user_id=carol&limit=2&page=2"))).await;
    assert_eq!(ids(&page), [carol_ids[0].as_str()]);
    let (_, page) =
        call(http.get(server.url("/memories?user_id=carol&sort_by=created_at&sort_order=asc")))
            .await;
    assert_eq!(
        ids(&page),
        carol_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let (_, page) = call(http.get(server.url("/memories?user_id=carol&search_content=tea"))).await;
    assert_eq!(page["meta"]["total_count"], 2, "a search ignores case");
    let (_, page) = call(http.get(server.url("/memories?user_id=carol&topics=home,sweets"))).await;
    assert_eq!(page["meta"]["total_count"], 2, "any of the topics");
    let (_, page) = call(http.get(server.url("/memories"))).await;
    assert_eq!(
        page["meta"]["total_count"], 4,
        "an anonymous caller sees every user's"
    );
    let (_, topics) = call(http.get(server.url("/memory_topics?user_id=dave"))).await;
    assert_eq!(topics, json!(["food"]));

    // Dave cannot delete Carol's memories by listing them.
    let (status, _) = call(
        http.delete(server.url("/memories"))
            .json(&json!({"memory_ids": carol_ids, "user_id": "dave"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, page) = call(http.get(server.url("/memories?user_id=carol"))).await;
    assert_eq!(page["meta"]["total_count"], 3);
    let (status, _) = call(
        http.delete(server.url("/memories"))
            .json(&json!({"memory_ids": carol_ids, "user_id": "carol"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, page) = call(http.get(server.url("/memories?user_id=carol"))).await;
    assert_eq!(page["meta"]["total_count"], 0);
}

#[tokio::test]
async fn config_advertises_the_memory_database_and_optimizing_is_not_served_yet() {
    let server = TestServer::with(builder()).await;
    let http = client();
    let (status, config) = call(http.get(server.url("/config"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        config["memory"]["dbs"][0]["tables"],
        json!(["agentos_memories"]),
        "{}",
        config["memory"]
    );
    assert_eq!(config["memory"]["dbs"][0]["db_id"], config["os_database"]);
    let (status, body) = call(
        http.post(server.url("/optimize-memories"))
            .json(&json!({"user_id": "carol"})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Memory optimization")
    );
}
