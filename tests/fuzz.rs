//! Fuzzing the request parsers: thousands of generated multipart, urlencoded and JSON run
//! bodies, `factory_input` values (deep nesting included) and `Authorization` headers, each
//! sent to the real router in-process, and a bounded stream of malformed HTTP over a real
//! socket. Every case asserts: no panic and no 5xx; a refusal is a 4xx with a JSON `detail`
//! and changes nothing stored; an input that happens to be valid is served.
//!
//! The cases per property default to 2,000 (`AGENTOS_FUZZ_CASES` changes it). Seeds are
//! random; a failure prints the shrunk input that caused it.

mod support;

use std::cell::Cell;
use std::time::Duration;

use agentos::AgentOs;
use agentos::server::JwtAuth;
use axum::body::Body;
use http::{HeaderValue, Request, StatusCode};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use support::db::TestDb;
use support::{builder, client, form};
use tower::ServiceExt;

const SECRET: &[u8] = b"fuzz-hs256-secret-with-at-least-32-bytes!!";

fn cases() -> u32 {
    std::env::var("AGENTOS_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    })
}

/// An OS on a database of its own, called through its router without a socket.
struct Harness {
    os: AgentOs,
    router: axum::Router,
    _db: TestDb,
}

/// What a request got back.
struct Answer {
    status: StatusCode,
    content_type: String,
    www_authenticate: bool,
    body: Vec<u8>,
}

impl Harness {
    async fn new(builder: agentos::AgentOsBuilder) -> Self {
        let db = TestDb::new().await;
        let os = builder.db(db.db()).build().await.expect("valid OS");
        let router = os.router();
        Harness {
            os,
            router,
            _db: db,
        }
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = tokio::time::timeout(
            Duration::from_secs(20),
            self.router.clone().oneshot(request),
        )
        .await
        .expect("answered in time")
        .expect("the router is infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let www_authenticate = response.headers().contains_key("www-authenticate");
        // Streams of valid runs are read to their end, so the run is over before the next case.
        let body = tokio::time::timeout(
            Duration::from_secs(20),
            axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024),
        )
        .await
        .expect("the body ends in time")
        .expect("a readable body")
        .to_vec();
        Answer {
            status,
            content_type,
            www_authenticate,
            body,
        }
    }

    /// Rows stored: sessions, runs, events.
    async fn stored(&self) -> [i64; 3] {
        let store = self.os.store();
        let mut counts = [0; 3];
        for (count, table) in
            counts
                .iter_mut()
                .zip(["agentos_sessions", "agentos_runs", "agentos_run_events"])
        {
            let row = store
                .connection()
                .query_one_raw(Statement::from_string(
                    store.backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .expect("count")
                .expect("a row");
            *count = row.try_get::<i64>("", "n").expect("a count");
        }
        counts
    }

    /// Waits for background runs to end, so they do not write during the next case.
    async fn settle(&self) {
        for _ in 0..400 {
            if self.os.runs_in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("runs still in flight after 2 s");
    }

    /// Sends `request` and checks the answer: a 2xx, or a 4xx with a JSON `detail` that left
    /// the store as it was.
    async fn check(&self, request: Request<Body>) -> Result<Answer, TestCaseError> {
        let before = self.stored().await;
        let answer = self.send(request).await;
        self.settle().await;
        prop_assert!(
            !answer.status.is_server_error(),
            "a {} answer: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        if answer.status.is_success() {
            return Ok(answer);
        }
        prop_assert!(
            answer.status.is_client_error(),
            "neither a success nor a refusal: {}",
            answer.status
        );
        prop_assert_eq!(&answer.content_type, "application/json");
        let body: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| TestCaseError::fail(format!("a refusal that is not JSON: {e}")))?;
        let said = match &body["detail"] {
            Value::String(text) => !text.trim().is_empty(),
            Value::Array(items) => !items.is_empty(),
            _ => false,
        };
        prop_assert!(said, "a refusal without a detail: {}", body);
        prop_assert!(body["error_code"].is_string(), "no error_code: {}", body);
        prop_assert_eq!(
            self.stored().await,
            before,
            "a refusal changed the store: {}",
            body
        );
        Ok(answer)
    }
}

fn run_request(path: &str, content_type: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut request = Request::post(path);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(Body::from(body)).expect("a request")
}

/// The routes that take a run request, and one that does not exist. Teams that panic or
/// time out on purpose are left out: their 5xx is what they are for.
fn run_path() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("/teams/support-team/runs"),
        Just("/teams/configurable-support-team/runs"),
        Just("/teams/static-support-team/runs"),
        Just("/teams/refusing-team/runs"),
        Just("/agents/tenant-agent/runs"),
        Just("/teams/no-such-team/runs"),
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "message",
            "stream",
            "background",
            "session_id",
            "user_id",
            "factory_input",
            "multitask_strategy",
            "cancel_on_disconnect",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{0,12}",
        1 => "\\PC{0,12}",
    ]
}

/// Text values: the spellings the parser knows, near misses, and anything at all.
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "hello", "true", "false", "1", "0", "yes", "maybe", "", " ", "reject", "enqueue",
            "allow", "bogus", "{}", "{\"include_reviewer\": true}", "{\"review_rounds\": 9}",
            "{\"tone\": \"\"}", "[1]", "null", "\"text\"", "{", "-1", "9223372036854775808",
        ])
        .prop_map(str::to_owned),
        2 => "\\PC{0,40}",
        1 => ".{0,40}",
    ]
}

/// Bytes of a value: mostly text, sometimes not even UTF-8.
fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        5 => field_text().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

#[derive(Debug, Clone)]
struct Part {
    name: Option<String>,
    value: Vec<u8>,
    filename: bool,
    extra_header: Option<String>,
}

fn part() -> impl Strategy<Value = Part> {
    (
        prop::option::weighted(0.95, field_name()),
        field_bytes(),
        prop::bool::weighted(0.05),
        prop::option::weighted(0.1, "[ -~]{0,30}"),
    )
        .prop_map(|(name, value, filename, extra_header)| Part {
            name,
            value,
            filename,
            extra_header,
        })
}

#[derive(Debug, Clone)]
struct Multipart {
    boundary: String,
    content_type: String,
    parts: Vec<Part>,
    closed: bool,
    cut_to: Option<usize>,
    noise: Option<Vec<u8>>,
}

impl Multipart {
    fn body(&self) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some(noise) = &self.noise {
            body.extend_from_slice(noise);
        }
        for part in &self.parts {
            body.extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
            let mut disposition = "Content-Disposition: form-data".to_owned();
            if let Some(name) = &part.name {
                disposition.push_str(&format!("; name=\"{name}\""));
            }
            if part.filename {
                disposition.push_str("; filename=\"x.txt\"");
            }
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(b"\r\n");
            if let Some(header) = &part.extra_header {
                body.extend_from_slice(header.as_bytes());
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(&part.value);
            body.extend_from_slice(b"\r\n");
        }
        if self.closed {
            body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        }
        if let Some(cut) = self.cut_to {
            body.truncate(cut);
        }
        body
    }
}

fn multipart() -> impl Strategy<Value = Multipart> {
    (
        "[0-9A-Za-z'()+_,./:=?-]{1,40}",
        0..5u8,
        prop::collection::vec(part(), 0..8),
        prop::bool::weighted(0.85),
        prop::option::weighted(0.15, 0..2_000usize),
        prop::option::weighted(0.05, prop::collection::vec(any::<u8>(), 0..40)),
    )
        .prop_map(|(boundary, header, parts, closed, cut_to, noise)| {
            let content_type = match header {
                0 => "multipart/form-data".to_owned(),
                1 => "multipart/form-data; boundary=\"\"".to_owned(),
                2 => format!("multipart/form-data; boundary={boundary}x"),
                _ => format!("multipart/form-data; boundary=\"{boundary}\""),
            };
            Multipart {
                boundary,
                content_type,
                parts,
                closed,
                cut_to,
                noise,
            }
        })
}

#[test]
fn multipart_run_bodies_are_served_or_refused_with_a_detail() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let harness = rt.block_on(Harness::new(builder()));
    let served = Cell::new(0usize);
    runner()
        .run(&(run_path(), multipart()), |(path, form)| {
            let request = run_request(path, Some(&form.content_type), form.body());
            let answer = rt.block_on(harness.check(request))?;
            served.set(served.get() + usize::from(answer.status.is_success()));
            Ok(())
        })
        .unwrap();
    // Valid forms come up too, so the served path is exercised along with the refusals.
    assert!(served.get() > 0, "no generated form was valid");
}

/// A urlencoded body: known fields with odd values, percent-escapes good and bad, stray
/// separators.
fn urlencoded() -> impl Strategy<Value = Vec<u8>> {
    let pair = prop_oneof![
        6 => (field_name(), field_text()).prop_map(|(name, value)| {
            let escape = |text: &str| -> String {
                text.bytes()
                    .map(|b| match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect()
            };
            format!("{}={}", escape(&name), escape(&value)).into_bytes()
        }),
        2 => "[=&%+;a-z0-9]{0,20}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..30),
    ];
    prop::collection::vec(pair, 0..8).prop_map(|pairs| pairs.join(&b'&'))
}

#[test]
fn urlencoded_run_bodies_are_served_or_refused_with_a_detail() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let harness = rt.block_on(Harness::new(builder()));
    let served = Cell::new(0usize);
    runner()
        .run(&(run_path(), urlencoded()), |(path, body)| {
            let request = run_request(path, Some("application/x-www-form-urlencoded"), body);
            let answer = rt.block_on(harness.check(request))?;
            served.set(served.get() + usize::from(answer.status.is_success()));
            Ok(())
        })
        .unwrap();
    assert!(served.get() > 0, "no generated form was valid");
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        field_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A JSON run body: an object of known fields with any values, any value at all, or text
/// that is not JSON (cut short, or bytes).
fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let known = prop_oneof![
        field_text().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        json_value(),
    ];
    prop_oneof![
        5 => prop::collection::btree_map(field_name(), known, 0..8).prop_map(|fields| {
            serde_json::to_vec(&Value::Object(fields.into_iter().collect())).unwrap()
        }),
        2 => json_value().prop_map(|value| serde_json::to_vec(&value).unwrap()),
        1 => (json_value(), any::<prop::sample::Index>()).prop_map(|(value, cut)| {
            let mut text = serde_json::to_vec(&json!({"message": "hi", "x": value})).unwrap();
            text.truncate(cut.index(text.len()));
            text
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

#[test]
fn json_run_bodies_are_served_or_refused_with_a_detail() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let harness = rt.block_on(Harness::new(builder()));
    let served = Cell::new(0usize);
    runner()
        .run(&(run_path(), json_body()), |(path, body)| {
            let request = run_request(path, Some("application/json"), body);
            let answer = rt.block_on(harness.check(request))?;
            served.set(served.get() + usize::from(answer.status.is_success()));
            Ok(())
        })
        .unwrap();
    assert!(served.get() > 0, "no generated body was valid");
}

/// JSON text nested `depth` levels, built as text: a value that deep would overflow the
/// stack of the test itself.
fn nested_text(depth: usize, objects: bool, inner: &str) -> String {
    let (open, close) = if objects {
        ("{\"a\":", "}")
    } else {
        ("[", "]")
    };
    let mut text = String::with_capacity(depth * (open.len() + close.len()) + inner.len());
    for _ in 0..depth {
        text.push_str(open);
    }
    text.push_str(inner);
    for _ in 0..depth {
        text.push_str(close);
    }
    text
}

#[derive(Debug, Clone)]
enum Input {
    /// A random value, as JSON text.
    Value(Value),
    /// An object around a value nested this deep (objects or lists).
    Nested { depth: usize, objects: bool },
}

impl Input {
    /// `factory_input` as text, and how deep it nests (`None`: not worth counting).
    fn text(&self) -> (String, Option<usize>) {
        match self {
            Input::Value(value) => (value.to_string(), None),
            Input::Nested { depth, objects } => (
                format!(
                    "{{\"include_reviewer\": false, \"deep\": {}}}",
                    nested_text(*depth, *objects, "1")
                ),
                Some(depth + 1),
            ),
        }
    }
}

fn factory_input() -> impl Strategy<Value = Input> {
    let depth = prop_oneof![
        6 => 0..=80usize,
        2 => 60..=70usize,
        1 => 100..=5_000usize,
        // Deeper than serde_json's own limit by far, and still within the body limit.
        1 => Just(200_000usize),
    ];
    prop_oneof![
        1 => json_value().prop_map(Input::Value),
        2 => (depth, any::<bool>()).prop_map(|(depth, objects)| Input::Nested { depth, objects }),
    ]
}

#[test]
fn factory_input_is_parsed_or_refused_and_deep_nesting_is_refused_before_parsing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let harness = rt.block_on(Harness::new(builder()));
    let paths = prop_oneof![
        Just("/teams/configurable-support-team/runs"),
        Just("/agents/tenant-agent/runs"),
    ];
    let (served, too_deep) = (Cell::new(0usize), Cell::new(0usize));
    runner()
        .run(&(paths, factory_input(), any::<bool>()), |(path, input, as_json)| {
            let (text, depth) = input.text();
            let request = if as_json {
                // A JSON body carries the input as a value: the body is one level deeper.
                let body = format!("{{\"message\": \"hi\", \"stream\": false, \"factory_input\": {text}}}");
                run_request(path, Some("application/json"), body.into_bytes())
            } else {
                let boundary = "fuzzboundary";
                let body = format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n\
                     --{boundary}\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\nfalse\r\n\
                     --{boundary}\r\nContent-Disposition: form-data; name=\"factory_input\"\r\n\r\n{text}\r\n\
                     --{boundary}--\r\n"
                );
                run_request(
                    path,
                    Some(&format!("multipart/form-data; boundary={boundary}")),
                    body.into_bytes(),
                )
            };
            let answer = rt.block_on(harness.check(request))?;
            served.set(served.get() + usize::from(answer.status.is_success()));
            if let Some(depth) = depth {
                let limit = agentos::MAX_INPUT_DEPTH;
                if depth > limit {
                    too_deep.set(too_deep.get() + 1);
                    prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
                    let detail = String::from_utf8_lossy(&answer.body).into_owned();
                    prop_assert!(detail.contains("nest"), "{}", detail);
                } else {
                    // Nesting within the limit is no reason to refuse (the team ignores
                    // the unknown field, the agent's input has no such field either).
                    prop_assert!(answer.status.is_success(), "depth {} refused", depth);
                }
            }
            Ok(())
        })
        .unwrap();
    let (served, too_deep) = (served.get(), too_deep.get());
    assert!(
        served > 0 && too_deep > 0,
        "served {served}, too deep {too_deep}"
    );
}

/// What an `Authorization` header holds, and whether it should be let through.
#[derive(Debug, Clone)]
enum Credential {
    /// Bytes of any kind (those a header may hold).
    Bytes(Vec<u8>),
    /// A scheme and a token of printable characters.
    Scheme(String, String),
    /// Three dot-separated base64url segments of anything.
    JwtLike(Vec<u8>, Vec<u8>, Vec<u8>),
    /// A signed token with chosen header fields and claims.
    Signed {
        right_key: bool,
        crit: bool,
        kid: Option<String>,
        exp: Option<i64>,
        nbf: Option<i64>,
        sub: Option<Value>,
    },
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Credential {
    fn header(&self) -> Option<HeaderValue> {
        match self {
            Credential::Bytes(bytes) => HeaderValue::from_bytes(bytes).ok(),
            Credential::Scheme(scheme, token) => {
                HeaderValue::from_str(&format!("{scheme} {token}")).ok()
            }
            Credential::JwtLike(a, b, c) => HeaderValue::from_str(&format!(
                "Bearer {}.{}.{}",
                base64url(a),
                base64url(b),
                base64url(c)
            ))
            .ok(),
            Credential::Signed {
                right_key,
                crit,
                kid,
                exp,
                nbf,
                sub,
            } => {
                let header = jsonwebtoken::Header {
                    crit: crit.then(|| vec!["exp".to_owned()]),
                    kid: kid.clone(),
                    ..jsonwebtoken::Header::default()
                };
                let mut claims = serde_json::Map::new();
                if let Some(exp) = exp {
                    claims.insert("exp".into(), json!(now() + exp));
                }
                if let Some(nbf) = nbf {
                    claims.insert("nbf".into(), json!(now() + nbf));
                }
                if let Some(sub) = sub {
                    claims.insert("sub".into(), sub.clone());
                }
                let key: &[u8] = if *right_key {
                    SECRET
                } else {
                    b"another-secret-of-at-least-32-bytes-long"
                };
                let token = jsonwebtoken::encode(
                    &header,
                    &claims,
                    &jsonwebtoken::EncodingKey::from_secret(key),
                )
                .ok()?;
                HeaderValue::from_str(&format!("Bearer {token}")).ok()
            }
        }
    }

    /// Whether the server should accept it: only a well-signed token, in date, without `crit`.
    fn valid(&self) -> bool {
        match self {
            Credential::Signed {
                right_key,
                crit,
                exp,
                nbf,
                sub,
                ..
            } => {
                // RFC 7519 makes `sub` a string; jsonwebtoken cannot read a token whose `sub`
                // is a list or an object, and refuses it as malformed.
                // A subject agentos could not store as a user id (too long, a control
                // character; ids are at most 256 bytes) is refused with the token.
                let sub_readable = match sub {
                    Some(Value::Array(_) | Value::Object(_)) => false,
                    Some(Value::String(text)) => {
                        text.len() <= 256 && !text.chars().any(char::is_control)
                    }
                    _ => true,
                };
                *right_key
                    && sub_readable
                    && !crit
                    && exp.is_some_and(|exp| exp > 0)
                    && nbf.is_none_or(|nbf| nbf < 0)
            }
            _ => false,
        }
    }
}

fn credential() -> impl Strategy<Value = Credential> {
    // Offsets from now, clear of the 10 s leeway either way.
    let offset = prop_oneof![-100_000i64..-60, 60i64..100_000];
    let scheme = prop::sample::select(vec![
        "Bearer", "bearer", "BEARER", "Basic", "Bearer ", "Token", "", "Bearer\t",
    ]);
    prop_oneof![
        1 => prop::collection::vec(
            prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')],
            0..120
        )
        .prop_map(Credential::Bytes),
        1 => (scheme, "[ -~]{0,80}").prop_map(|(s, t)| Credential::Scheme(s.to_owned(), t)),
        1 => (
            prop_oneof![
                json_value().prop_map(|v| v.to_string().into_bytes()),
                Just(br#"{"alg":"HS256","typ":"JWT"}"#.to_vec()),
                Just(br#"{"alg":"none"}"#.to_vec()),
                Just(br#"{"alg":"HS256","crit":["exp"]}"#.to_vec()),
                prop::collection::vec(any::<u8>(), 0..40),
            ],
            prop_oneof![
                json_value().prop_map(|v| v.to_string().into_bytes()),
                prop::collection::vec(any::<u8>(), 0..40),
            ],
            prop::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(a, b, c)| Credential::JwtLike(a, b, c)),
        2 => (
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.3),
            prop::option::weighted(0.2, "[ -~]{0,10}"),
            prop::option::weighted(0.9, offset.clone()),
            prop::option::weighted(0.3, offset),
            prop::option::of(json_value()),
        )
            .prop_map(|(right_key, crit, kid, exp, nbf, sub)| Credential::Signed {
                right_key,
                crit,
                kid,
                exp,
                nbf,
                sub,
            }),
    ]
}

#[test]
fn authorization_headers_are_verified_or_refused_with_a_401() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let harness = rt.block_on(Harness::new(builder().auth(JwtAuth::hs256(SECRET))));
    let route = prop_oneof![Just(0u8), Just(1u8), Just(2u8)];
    let (let_in, refused) = (Cell::new(0usize), Cell::new(0usize));
    runner()
        .run(&(credential(), route), |(credential, route)| {
            let Some(value) = credential.header() else {
                return Ok(());
            };
            let request = match route {
                0 => Request::get("/teams").body(Body::empty()),
                1 => Request::get("/sessions?limit=1").body(Body::empty()),
                _ => Request::post("/teams/support-team/runs")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from("message=hi&stream=false")),
            };
            let mut request = request.expect("a request");
            request.headers_mut().insert("authorization", value);
            let answer = rt.block_on(harness.check(request))?;
            if credential.valid() {
                prop_assert_eq!(answer.status, StatusCode::OK);
                let_in.set(let_in.get() + 1);
            } else {
                prop_assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
                prop_assert!(answer.www_authenticate);
                refused.set(refused.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let (let_in, refused) = (let_in.get(), refused.get());
    assert!(
        let_in > 0 && refused > 0,
        "let in {let_in}, refused {refused}"
    );
}

/// One malformed (or not) HTTP/1.1 request, as bytes on the wire.
#[derive(Debug, Clone)]
struct Wire {
    method: String,
    target: Vec<u8>,
    version: &'static str,
    headers: Vec<Vec<u8>>,
    framing: Framing,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Framing {
    /// No length at all.
    None,
    /// `Content-Length` off from the body's real length by this much.
    Length(i64),
    /// A `Content-Length` that is not a length.
    OddLength(&'static str),
    /// Two different `Content-Length`s.
    TwoLengths,
    /// Chunked, well or badly.
    Chunked { well: bool },
}

impl Wire {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.push(b' ');
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(b"\r\nHost: 127.0.0.1\r\n");
        for header in &self.headers {
            out.extend_from_slice(header);
            out.extend_from_slice(b"\r\n");
        }
        let len = self.body.len() as i64;
        match &self.framing {
            Framing::None => {}
            Framing::Length(off) => out.extend_from_slice(
                format!("Content-Length: {}\r\n", (len + off).max(0)).as_bytes(),
            ),
            Framing::OddLength(text) => {
                out.extend_from_slice(format!("Content-Length: {text}\r\n").as_bytes())
            }
            Framing::TwoLengths => out.extend_from_slice(
                format!("Content-Length: {len}\r\nContent-Length: {}\r\n", len + 1).as_bytes(),
            ),
            Framing::Chunked { .. } => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        out.extend_from_slice(b"\r\n");
        match &self.framing {
            Framing::Chunked { well: true } => {
                out.extend_from_slice(format!("{:x}\r\n", self.body.len()).as_bytes());
                out.extend_from_slice(&self.body);
                out.extend_from_slice(b"\r\n0\r\n\r\n");
            }
            Framing::Chunked { well: false } => {
                out.extend_from_slice(b"zz\r\n");
                out.extend_from_slice(&self.body);
            }
            _ => out.extend_from_slice(&self.body),
        }
        out
    }
}

fn wire() -> impl Strategy<Value = Wire> {
    let method = prop_oneof![
        16 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
            .prop_map(str::to_owned),
        2 => "[A-Z]{1,12}",
        1 => "[ -~]{0,8}",
    ];
    let target = prop_oneof![
        16 => (
            prop::sample::select(vec![
                "/teams/support-team/runs",
                "/teams/configurable-support-team/runs",
                "/agents/tenant-agent/runs",
                "/teams/{x}",
                "/teams/support-team/runs/{x}",
                "/teams/support-team/runs/{x}/resume",
                "/teams/support-team/runs/{x}/cancel",
                "/teams/support-team/runs/{x}/continue",
                "/sessions",
                "/sessions/{x}",
                "/sessions/{x}/runs",
                "/sessions?page={x}&limit={x}",
                "/teams/support-team/runs?session_id={x}",
                "/health",
                "/config",
                "/{x}",
            ]),
            prop_oneof!["[a-zA-Z0-9%._~-]{0,20}", "%[0-9A-F]{2}%[0-9A-F]{2}", "-?[0-9]{1,30}"],
        )
            .prop_map(|(route, x)| route.replace("{x}", &x).into_bytes()),
        1 => "/[ -~]{0,60}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => (1..6_000usize).prop_map(|n| format!("/{}", "a".repeat(n)).into_bytes()),
        1 => Just(b"*".to_vec()),
    ];
    let header = prop_oneof![
        12 => (
            prop::sample::select(vec![
                "Content-Type: multipart/form-data; boundary=b",
                "Content-Type: application/x-www-form-urlencoded",
                "Content-Type: application/json",
                "Content-Type: text/plain",
                "Content-Type:",
                "Authorization: Bearer x.y.z",
                "Last-Event-ID: ",
                "Connection: close",
                "Connection: keep-alive",
                "Expect: 100-continue",
                "Transfer-Encoding: gzip",
                "Idempotency-Key: ",
                "Origin: http://evil.example",
            ]),
            "[ -~]{0,20}",
        )
            .prop_map(|(header, tail)| {
                if header.ends_with(' ') {
                    format!("{header}{tail}").into_bytes()
                } else {
                    header.as_bytes().to_vec()
                }
            }),
        3 => "[A-Za-z-]{1,20}: [ -~]{0,60}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => (1..10_000usize).prop_map(|n| format!("X-Big: {}", "v".repeat(n)).into_bytes()),
    ];
    let framing = prop_oneof![
        3 => Just(Framing::None),
        4 => prop_oneof![4 => Just(0i64), 1 => -20i64..20, 1 => Just(10_000_000i64)]
            .prop_map(Framing::Length),
        1 => prop::sample::select(vec!["-1", "abc", "99999999999999999999", "1 2", "", "+5", "0x10"])
            .prop_map(Framing::OddLength),
        1 => Just(Framing::TwoLengths),
        1 => any::<bool>().prop_map(|well| Framing::Chunked { well }),
    ];
    let body = prop_oneof![
        2 => Just(Vec::new()),
        2 => Just(
            b"--b\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n--b\r\n\
              Content-Disposition: form-data; name=\"stream\"\r\n\r\nfalse\r\n--b--\r\n"
                .to_vec()
        ),
        2 => urlencoded(),
        2 => json_body(),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ];
    (
        method,
        target,
        prop_oneof![
            12 => Just("HTTP/1.1"),
            2 => Just("HTTP/1.0"),
            1 => prop::sample::select(vec!["HTTP/2.0", "HTTP/1.1x", "", "http/1.1"]),
        ],
        prop::collection::vec(header, 0..5),
        framing,
        body,
    )
        .prop_map(|(method, target, version, headers, framing, body)| Wire {
            method,
            target,
            version,
            headers,
            framing,
            body,
        })
}

/// What came back, over all connections (a connection may carry several requests when the
/// bytes after one request's framing read as another).
#[derive(Default, Debug)]
struct Tally {
    /// Connections whose first answer came from the application.
    reached_the_app: usize,
    /// Answers the application gave (they carry its request id).
    from_the_app: usize,
    /// Answers hyper gave by itself for requests it could not parse.
    from_hyper: usize,
    /// Connections closed without an answer.
    closed: usize,
}

/// One parsed answer off the wire.
struct WireAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The answers in `data`, in order, as far as they parse (a HEAD answer has no body).
fn answers_in(mut data: &[u8], head: bool) -> Vec<WireAnswer> {
    let mut found = Vec::new();
    while let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        let text = String::from_utf8_lossy(&data[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let Some(status) = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse::<u16>().ok())
        else {
            break;
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        data = &data[end + 4..];
        if status < 200 {
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if head {
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
                    data = &[];
                    break;
                };
                let size = std::str::from_utf8(&data[..line_end])
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                    .unwrap_or(0);
                data = &data[line_end + 2..];
                if size == 0 {
                    data = data.get(2..).unwrap_or(&[]);
                    break;
                }
                let take = size.min(data.len());
                body.extend_from_slice(&data[..take]);
                data = data.get(take + 2..).unwrap_or(&[]);
            }
        } else if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok())
        {
            let take = length.min(data.len());
            body.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        found.push(WireAnswer {
            status,
            headers,
            body,
        });
        if head {
            break;
        }
    }
    found
}

async fn send_wire(addr: &str, request: &Wire, tally: &mut Tally) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    // The server may close before taking all of it; that is an answer too.
    let _ = stream.write_all(&request.bytes()).await;
    let _ = stream.shutdown().await;
    let mut data = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut data));
    if read.await.is_err() {
        return Err("the server neither answered nor closed in 20 s".into());
    }
    let answers = answers_in(&data, request.method == "HEAD");
    match answers.first() {
        None => tally.closed += 1,
        Some(first)
            if first.status < 400 || first.headers.iter().any(|(k, _)| k == "x-request-id") =>
        {
            tally.reached_the_app += 1
        }
        Some(_) => {}
    }
    for answer in answers {
        let header = |name: &str| {
            answer
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if header("x-request-id").is_none() {
            if answer.status >= 400 {
                // hyper refusing what it could not parse: its answers are the connection
                // handling's to explain, not the application's.
                tally.from_hyper += 1;
            } else {
                // A CORS preflight, answered outside the request-id layers.
                tally.from_the_app += 1;
            }
            continue;
        }
        tally.from_the_app += 1;
        if answer.status == 500 {
            return Err(format!("a 500: {}", String::from_utf8_lossy(&answer.body)));
        }
        if answer.status >= 400 {
            if header("content-type") != Some("application/json") {
                return Err(format!("a {} that is not JSON", answer.status));
            }
            if request.method == "HEAD" {
                continue;
            }
            let body: Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("a {} whose body is not JSON: {e}", answer.status))?;
            if body["detail"].is_null() || body["detail"] == "" {
                return Err(format!("a {} without a detail: {body}", answer.status));
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_over_a_socket_is_answered_in_json_and_the_server_keeps_serving() {
    let server = support::TestServer::with(builder()).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut runner = runner();
    let started = std::time::Instant::now();
    let mut tally = Tally::default();
    let count = cases();
    for _ in 0..count {
        let request = wire().new_tree(&mut runner).expect("a request").current();
        if let Err(problem) = send_wire(&addr, &request, &mut tally).await {
            panic!(
                "{problem}\nrequest: {:?}",
                String::from_utf8_lossy(&request.bytes())
            );
        }
        // Bounded in time as well as in count.
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    eprintln!("{tally:?} in {:?}", started.elapsed());
    // Enough requests get through to the application for it to be what is fuzzed.
    assert!(tally.reached_the_app > count as usize / 5, "{tally:?}");

    // After all that, a normal run is served.
    let response = client()
        .post(server.url("/teams/support-team/runs"))
        .multipart(form(&[("message", "still there?"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let run: Value = response.json().await.unwrap();
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(!run["content"].as_str().unwrap_or("").is_empty(), "{run}");
}
