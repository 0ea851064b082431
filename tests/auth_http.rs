//! Trust over a real socket: every way a token can be wrong, identity rules, scopes.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use agentos::prelude::*;
use agentos::server::{JwtAuth, TokenSource};
use agentos::{AgentOs, TestModel};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestServer, client, form};

const SECRET: &[u8] = b"oracle-hs256-secret-with-at-least-32-bytes!";
const RSA_PRIVATE: &[u8] = include_bytes!("fixtures/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("fixtures/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("fixtures/ec_public.pem");

/// What the factory saw in its context, by the run's message. Tests of this binary run in
/// parallel, so a test that reads this sends a message no other test sends.
static SEEN: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());

fn seen_for(message: &str) -> Value {
    SEEN.lock().unwrap()[message].clone()
}

#[team_factory(id = "echo-team")]
fn echo_team(ctx: RequestContext) -> Team {
    let seen = json!({
        "user_id": ctx.user_id(),
        "verified": ctx.identity().is_verified(),
        "session_id": ctx.session_id(),
        "claims": ctx.trusted().claims(),
        "scopes": ctx.trusted().scopes(),
    });
    SEEN.lock().unwrap().insert(ctx.message().to_owned(), seen);
    Team::new("Echo")
        .with_model(TestModel::new())
        .with_members([Agent::new("Member").with_model(TestModel::new())])
}

#[team_factory(id = "admin-team", scopes = ["support:admin"])]
fn admin_team() -> Team {
    Team::new("Admin")
        .with_model(TestModel::new())
        .with_members([Agent::new("Member").with_model(TestModel::new())])
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hs256(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn valid_claims() -> Value {
    json!({"sub": "tenant_42", "scopes": ["support:admin"], "tenant": "acme", "exp": now() + 3600})
}

async fn server_with(auth: JwtAuth) -> TestServer {
    TestServer::with(
        AgentOs::builder()
            .team(echo_team)
            .team(admin_team)
            .auth(auth),
    )
    .await
}

async fn run_with(
    server: &TestServer,
    authorization: Option<&str>,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = client()
        .post(server.url("/teams/echo-team/runs"))
        .multipart(form(fields));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn run_as(server: &TestServer, token: &str) -> (StatusCode, Value) {
    run_with(
        server,
        Some(&format!("Bearer {token}")),
        &[("message", "x"), ("stream", "false")],
    )
    .await
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // base64url without padding, written out to keep the test free of another crate.
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let _ = out.write_char(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn every_bad_token_is_a_401() {
    let server = server_with(JwtAuth::hs256(SECRET).audience("agentos")).await;
    let good = || {
        let mut claims = valid_claims();
        claims["aud"] = json!("agentos");
        claims
    };
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good().to_string().as_bytes())
    );
    let wrong_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good(),
        &EncodingKey::from_secret(b"another-secret-that-is-long-enough!!"),
    )
    .unwrap();
    let other_algorithm = jsonwebtoken::encode(
        &Header::new(Algorithm::HS384),
        &good(),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &good(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    let expired = hs256({
        let mut c = good();
        c["exp"] = json!(now() - 60);
        c
    });
    let not_yet_valid = hs256({
        let mut c = good();
        c["nbf"] = json!(now() + 120);
        c
    });
    let wrong_audience = hs256({
        let mut c = good();
        c["aud"] = json!("someone-else");
        c
    });
    let no_expiry = hs256(json!({"sub": "tenant_42", "aud": "agentos"}));
    let mut tampered = hs256(good());
    tampered.insert(tampered.find('.').unwrap() + 2, 'x');

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "Authorization header missing"),
        (
            "not bearer",
            Some(format!("Basic {}", hs256(good()))),
            "Invalid token",
        ),
        ("empty bearer", Some("Bearer ".into()), "Invalid token"),
        ("garbage", Some("Bearer not.a.jwt".into()), "Invalid token"),
        (
            "alg none",
            Some(format!("Bearer {unsigned}")),
            "Invalid token",
        ),
        (
            "wrong key",
            Some(format!("Bearer {wrong_key}")),
            "Signature verification failed",
        ),
        (
            "tampered",
            Some(format!("Bearer {tampered}")),
            "Invalid token",
        ),
        (
            "HS384",
            Some(format!("Bearer {other_algorithm}")),
            "algorithm not allowed",
        ),
        (
            "RS256",
            Some(format!("Bearer {rs256}")),
            "algorithm not allowed",
        ),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            "Token has expired",
        ),
        (
            "not yet valid",
            Some(format!("Bearer {not_yet_valid}")),
            "not yet valid",
        ),
        (
            "wrong audience",
            Some(format!("Bearer {wrong_audience}")),
            "wrong audience",
        ),
        (
            "no exp",
            Some(format!("Bearer {no_expiry}")),
            "Invalid token",
        ),
    ];
    for (name, header, expected) in cases {
        let (status, body) = run_with(
            &server,
            header.as_deref(),
            &[("message", "x"), ("stream", "false")],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(expected),
            "{name}: {body}"
        );
    }

    let (status, body) = run_as(&server, &hs256(good())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_a_401() {
    let server = server_with(JwtAuth::hs256(SECRET).issuer("agentos-test")).await;
    let mut claims = valid_claims();
    claims["iss"] = json!("someone-else");
    let (status, body) = run_as(&server, &hs256(claims.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["detail"].as_str().unwrap().contains("wrong issuer"),
        "{body}"
    );
    claims["iss"] = json!("agentos-test");
    assert_eq!(run_as(&server, &hs256(claims)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn leeway_accepts_a_token_that_expired_a_few_seconds_ago() {
    let server = server_with(JwtAuth::hs256(SECRET)).await;
    let mut claims = valid_claims();
    claims["exp"] = json!(now() - 3);
    let (status, _) = run_as(&server, &hs256(claims)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn rs256_es256_and_jwks_keys_verify() {
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let server = server_with(JwtAuth::rs256_pem(RSA_PUBLIC).unwrap()).await;
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &valid_claims(), &rsa).unwrap();
    assert_eq!(run_as(&server, &token).await.0, StatusCode::OK);

    let server = server_with(JwtAuth::es256_pem(EC_PUBLIC).unwrap()).await;
    let ec = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &valid_claims(), &ec).unwrap();
    assert_eq!(run_as(&server, &token).await.0, StatusCode::OK);

    let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks.json");
    let server = server_with(JwtAuth::jwks_file(jwks, Algorithm::RS256).unwrap()).await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key-2026".into());
    let token = jsonwebtoken::encode(&header, &valid_claims(), &rsa).unwrap();
    assert_eq!(run_as(&server, &token).await.0, StatusCode::OK);
    header.kid = Some("retired-key".into());
    let token = jsonwebtoken::encode(&header, &valid_claims(), &rsa).unwrap();
    let (status, body) = run_as(&server, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].as_str().unwrap().contains("unknown key id"));
}

#[tokio::test]
async fn a_token_in_a_cookie_is_read_in_the_configured_order() {
    let auth = JwtAuth::hs256(SECRET).token_from([
        TokenSource::Cookie("access_token".into()),
        TokenSource::Header,
    ]);
    let server = server_with(auth).await;
    let response = client()
        .post(server.url("/teams/echo-team/runs"))
        .header(
            "cookie",
            format!("theme=dark; access_token={}", hs256(valid_claims())),
        )
        .multipart(form(&[("message", "x"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_body_cannot_impersonate_and_claims_reach_the_factory_exactly() {
    let server = server_with(JwtAuth::hs256(SECRET)).await;
    let mut claims = valid_claims();
    claims["session_id"] = json!("sess-from-token");
    claims["scopes"] = json!("teams:run support:read");
    let token = hs256(claims.clone());
    let (status, run) = run_with(
        &server,
        Some(&format!("Bearer {token}")),
        &[
            ("message", "may the body impersonate?"),
            ("stream", "false"),
            ("user_id", "mallory"),
            ("session_id", "sess-from-body"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        run["user_id"], "tenant_42",
        "the verified subject wins over the body"
    );
    assert_eq!(run["session_id"], "sess-from-token");

    let seen = seen_for("may the body impersonate?");
    assert_eq!(seen["user_id"], "tenant_42");
    assert_eq!(seen["verified"], true);
    assert_eq!(seen["claims"], claims, "every claim, exactly as signed");
    assert_eq!(
        seen["scopes"],
        json!(["support:read", "teams:run"]),
        "a space-separated string is split"
    );
}

#[tokio::test]
async fn without_auth_the_bodys_user_id_is_only_asserted() {
    let server = TestServer::with(AgentOs::builder().team(echo_team)).await;
    let (status, _) = run_with(
        &server,
        None,
        &[
            ("message", "who am I without auth?"),
            ("stream", "false"),
            ("user_id", "someone"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let seen = seen_for("who am I without auth?");
    assert_eq!(seen["user_id"], "someone");
    assert_eq!(seen["verified"], false);
    assert_eq!(seen["claims"], json!({}));
}

#[tokio::test]
async fn factory_scopes_are_checked_against_verified_scopes() {
    let server = server_with(JwtAuth::hs256(SECRET)).await;
    let post = |token: String| {
        let url = server.url("/teams/admin-team/runs");
        async move {
            client()
                .post(url)
                .bearer_auth(token)
                .multipart(form(&[("message", "x"), ("stream", "false")]))
                .send()
                .await
                .unwrap()
        }
    };
    let mut claims = valid_claims();
    claims["scopes"] = json!(["support:read"]);
    let response = post(hs256(claims)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("'support:admin'"));
    assert_eq!(post(hs256(valid_claims())).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn route_scopes_follow_agnos_grammar() {
    let server = server_with(JwtAuth::hs256(SECRET).check_route_scopes(true)).await;
    let with_scopes = |scopes: &[&str]| {
        let mut claims = valid_claims();
        claims["scopes"] = json!(scopes);
        hs256(claims)
    };
    for (scopes, expected) in [
        (vec!["teams:run"], StatusCode::OK),
        (vec!["teams:echo-team:run"], StatusCode::OK),
        (vec!["teams:*:run"], StatusCode::OK),
        (vec!["agent_os:admin"], StatusCode::OK),
        (vec!["teams:admin-team:run"], StatusCode::FORBIDDEN),
        (vec!["teams:read"], StatusCode::FORBIDDEN),
        (vec!["agents:run"], StatusCode::FORBIDDEN),
    ] {
        let (status, body) = run_as(&server, &with_scopes(&scopes)).await;
        assert_eq!(status, expected, "{scopes:?}: {body}");
        if status == StatusCode::FORBIDDEN {
            assert_eq!(body["detail"], "Missing required scope 'teams:run'");
        }
    }

    // A caller without the scope learns nothing about which ids exist.
    let token = with_scopes(&["teams:echo-team:read"]);
    let get = |path: &str| client().get(server.url(path)).bearer_auth(&token).send();
    let unknown = get("/teams/no-such-team").await.unwrap();
    let hidden = get("/teams/admin-team").await.unwrap();
    assert_eq!(unknown.status(), hidden.status());
    assert_eq!(unknown.text().await.unwrap(), hidden.text().await.unwrap());

    // Lists show only what the caller may read.
    let teams: Value = get("/teams").await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["echo-team"]);

    let teams: Value = client()
        .get(server.url("/teams"))
        .bearer_auth(with_scopes(&["teams:read"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(teams.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn health_and_openapi_stay_open() {
    let server = server_with(JwtAuth::hs256(SECRET).check_route_scopes(true)).await;
    for path in ["/health", "/openapi.json"] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let response = client().get(server.url("/teams")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

/// A small deterministic generator, so the fuzz cases are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn no_malformed_authorization_value_panics_or_gets_through() {
    let auth = JwtAuth::hs256(SECRET);
    let valid = hs256(valid_claims());
    let alphabet: Vec<char> = "ABCxyz019-_.+/= \t\"{}:,Bearer bearer\u{0}\u{e9}"
        .chars()
        .collect();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..3_000 {
        let value = match round % 4 {
            // Random text.
            0 => (0..rng.next() % 80)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect::<String>(),
            // A valid token with one byte changed.
            1 => {
                let mut bytes = valid.clone().into_bytes();
                let at = (rng.next() % bytes.len() as u64) as usize;
                let replacement = b"AZaz09-_."[(rng.next() % 9) as usize];
                if bytes[at] == replacement {
                    continue;
                }
                bytes[at] = replacement;
                format!("Bearer {}", String::from_utf8(bytes).unwrap())
            }
            // A valid token cut short.
            2 => format!(
                "Bearer {}",
                &valid[..(rng.next() % valid.len() as u64) as usize]
            ),
            // Segments shuffled.
            _ => {
                let parts: Vec<&str> = valid.split('.').collect();
                let i = (rng.next() % 3) as usize;
                format!(
                    "Bearer {}.{}.{}",
                    parts[(i + 1) % 3],
                    parts[i],
                    parts[(i + 2) % 3]
                )
            }
        };
        let Ok(header) = reqwest::header::HeaderValue::from_str(&value) else {
            continue;
        };
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", header);
        assert!(auth.verify(&headers).is_err(), "accepted {value:?}");
    }
}
