//! agno's recorded exchanges (`tests/fixtures/wire/`), replayed against `examples/agno_compat`
//! served over a real socket on the project's OpenAI mock: the same statuses, content types,
//! JSON keys and value types, and SSE event names in the same order, as
//! agno's replay runner (`conform.py`, run by `.ci/run`) checks them (here with `cargo test`,
//! nothing to install).
//!
//! Values (texts, ids, timings) are not compared, as the runner does not by default: agentos
//! writes its own wording. Ids the server made are paired with the recorded ones, so a later
//! request that used a recorded id sends the live one.

#[path = "../examples/agno_compat/components.rs"]
mod components;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use agentos::server::JwtAuth;
use agentos::store::Db;
use agentos::testing::{Fault, MockOpenAi};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Map, Value};

const SECRET: &str = "oracle-hs256-secret-with-at-least-32-bytes!";
const WRONG_SECRET: &str = "some-other-secret-that-is-long-enough-123";
const RECURSE: &[&str] = &[
    "member_responses",
    "tools",
    "metrics",
    "data",
    "meta",
    "step_results",
    "step_executor_runs",
    "step_requirements",
    "executor_requirements",
    "tool_execution",
    "step_response",
    "step_output",
];
const ID_KEYS: &[&str] = &["run_id", "session_id", "parent_run_id", "tool_call_id"];
const MAX_DEPTH: usize = 4;

/// One recorded exchange.
struct Capture {
    name: String,
    value: Value,
}

fn captures() -> Vec<Capture> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wire");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/fixtures/wire")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name.ends_with(".json") && name.as_bytes()[..2].iter().all(u8::is_ascii_digit)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            Capture {
                name: name.trim_end_matches(".json").to_owned(),
                value: serde_json::from_str(&text).unwrap(),
            }
        })
        .collect()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Every recorded non-null key is in the live object with the same type; the keys the runner
/// follows are compared again one level down (the first item of a list, paired by id).
fn compare(
    recorded: &Value,
    live: &Value,
    path: &str,
    depth: usize,
    ids: &HashMap<String, String>,
    problems: &mut Vec<String>,
) {
    let (Value::Object(recorded), Value::Object(live)) = (recorded, live) else {
        problems.push(format!("{path}: {} (recorded dict)", type_name(live)));
        return;
    };
    for (key, value) in recorded {
        if value.is_null() {
            continue;
        }
        let here = format!("{path}{key}");
        let Some(live_value) = live.get(key) else {
            problems.push(format!("missing {here}"));
            continue;
        };
        if type_name(live_value) != type_name(value) {
            problems.push(format!(
                "{here}: {} (recorded {})",
                type_name(live_value),
                type_name(value)
            ));
            continue;
        }
        if !RECURSE.contains(&key.as_str()) || depth >= MAX_DEPTH {
            continue;
        }
        match (value, live_value) {
            (Value::Object(_), _) => compare(
                value,
                live_value,
                &format!("{here}."),
                depth + 1,
                ids,
                problems,
            ),
            (Value::Array(items), Value::Array(live_items))
                if items.first().is_some_and(Value::is_object) =>
            {
                match pick(&items[0], live_items, ids) {
                    Some(item) => compare(
                        &items[0],
                        item,
                        &format!("{here}[0]."),
                        depth + 1,
                        ids,
                        problems,
                    ),
                    None => problems.push(format!(
                        "{here}: empty list (recorded {} items)",
                        items.len()
                    )),
                }
            }
            _ => {}
        }
    }
}

/// The live item to compare with a recorded one: the same (mapped) session, run or id, else
/// the first.
fn pick<'a>(
    recorded: &Value,
    live: &'a [Value],
    ids: &HashMap<String, String>,
) -> Option<&'a Value> {
    for key in ["session_id", "run_id", "id"] {
        if let Some(wanted) = recorded
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        {
            let wanted = ids.get(wanted).map_or(wanted, String::as_str);
            if let Some(found) = live
                .iter()
                .find(|item| item.get(key).and_then(Value::as_str) == Some(wanted))
            {
                return Some(found);
            }
        }
    }
    live.first()
}

/// Pairs the ids the server made with the recorded ones, walking both bodies together.
fn harvest(recorded: &Value, live: &Value, sent: &[String], ids: &mut HashMap<String, String>) {
    match (recorded, live) {
        (Value::Object(recorded), Value::Object(live)) => {
            for (key, value) in recorded {
                let Some(live_value) = live.get(key) else {
                    continue;
                };
                match (value, live_value) {
                    (Value::String(old), Value::String(new)) if ID_KEYS.contains(&key.as_str()) => {
                        if !old.is_empty() && !new.is_empty() && !sent.contains(old) {
                            ids.entry(old.clone()).or_insert_with(|| new.clone());
                        }
                    }
                    _ => harvest(value, live_value, sent, ids),
                }
            }
        }
        (Value::Array(recorded), Value::Array(live)) => {
            for (a, b) in recorded.iter().zip(live) {
                harvest(a, b, sent, ids);
            }
        }
        _ => {}
    }
}

fn substitute(text: &str, ids: &HashMap<String, String>) -> String {
    ids.iter()
        .fold(text.to_owned(), |text, (old, new)| text.replace(old, new))
}

/// The recorded Authorization header, re-minted: a valid token with the recordings' secret,
/// a bad signature with another one, an expired token expired again.
fn authorization(request: &Value) -> Option<String> {
    let header = request["headers"].get("Authorization")?.as_str()?;
    let claims = request.get("token_claims").filter(|c| c.is_object());
    let (Some(claims), Some(_)) = (claims, header.strip_prefix("Bearer ")) else {
        return Some(header.to_owned());
    };
    let mut claims = claims.clone();
    let secret = if request["token_name"] == "bad_signature" {
        WRONG_SECRET
    } else {
        SECRET
    };
    if request["token_name"] == "expired" {
        claims["exp"] = Value::from(1_000_000_000u64);
    }
    let token = jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    Some(format!("Bearer {token}"))
}

/// The request's body, rebuilt as recorded, and its content type.
fn body(request: &Value, ids: &HashMap<String, String>) -> Option<(Vec<u8>, String)> {
    let body = request.get("body").filter(|b| b.is_object())?;
    let content_type = request["headers"]["Content-Type"]
        .as_str()
        .map(str::to_owned);
    if let Some(fields) = body["multipart_fields"].as_array() {
        let content_type = content_type.unwrap();
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .to_owned();
        let mut out = String::new();
        for field in fields {
            out.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                field[0].as_str().unwrap(),
                substitute(field[1].as_str().unwrap(), ids)
            ));
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        return Some((out.into_bytes(), content_type));
    }
    if let Some(raw) = body["raw"].as_str() {
        let content_type =
            content_type.unwrap_or_else(|| "application/x-www-form-urlencoded".into());
        return Some((substitute(raw, ids).into_bytes(), content_type));
    }
    let json = body.get("json")?;
    let content_type = content_type.unwrap_or_else(|| "application/json".into());
    Some((
        substitute(&json.to_string(), ids).into_bytes(),
        content_type,
    ))
}

fn family(content_type: &str) -> String {
    let main = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match main.as_str() {
        "" => "none".into(),
        "application/json" => "json".into(),
        "text/event-stream" => "sse".into(),
        other => other.into(),
    }
}

fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event:") {
                    name = Some(rest.trim().to_owned());
                } else if let Some(rest) = line.strip_prefix("data:") {
                    data.push_str(rest.trim_start());
                }
            }
            Some((
                name?,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            ))
        })
        .collect()
}

/// Every `message` the captures send: a recorded list item whose input is none of them came
/// from an exchange that is not in this set and cannot be replayed.
fn sent_messages(captures: &[Capture]) -> Vec<String> {
    captures
        .iter()
        .flat_map(|c| {
            c.value["request"]["body"]["multipart_fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|field| field[0] == "message")
        .filter_map(|field| field[1].as_str().map(str::to_owned))
        .collect()
}

async fn replay(
    base: &str,
    capture: &Capture,
    ids: &mut HashMap<String, String>,
    messages: &[String],
    background_runs: &[String],
) -> Vec<String> {
    let request = &capture.value["request"];
    let recorded = &capture.value["response"];
    let url = request["url"].as_str().unwrap();
    let authority = &url[url.find("://").unwrap() + 3..];
    let target = &authority[authority.find('/').unwrap()..];
    let target = substitute(target, ids);
    let method =
        reqwest::Method::from_bytes(request["method"].as_str().unwrap().as_bytes()).unwrap();
    let client = reqwest::Client::new();
    let send = || {
        let mut builder = client.request(method.clone(), format!("{base}{target}"));
        if let Some(auth) = authorization(request) {
            builder = builder.header("authorization", auth);
        }
        if let Some((bytes, content_type)) = body(request, ids) {
            builder = builder.header("content-type", content_type).body(bytes);
        }
        builder.send()
    };
    let recorded_status = recorded["status"].as_u64().unwrap() as u16;
    // A read of what a background run produces waits until it looks as recorded.
    let polled = method == reqwest::Method::GET
        && background_runs
            .iter()
            .any(|id| target.contains(id.as_str()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, content_type, text) = loop {
        let response = send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap();
        let settled = status == recorded_status
            && recorded["body_json"]["status"].as_str().is_none_or(|want| {
                serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["status"].as_str().map(|s| s == want))
                    .unwrap_or(false)
            });
        if !polled || settled || Instant::now() > deadline {
            break (status, content_type, text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let mut problems = Vec::new();
    if status != recorded_status {
        problems.push(format!("status {status} (recorded {recorded_status})"));
    }
    let recorded_type = recorded["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("content-type"))
        .and_then(|h| h[1].as_str())
        .unwrap_or("");
    if family(&content_type) != family(recorded_type) {
        problems.push(format!(
            "content-type {content_type} (recorded {recorded_type})"
        ));
    }
    let sent: Vec<String> = request["body"]["multipart_fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| f[1].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let creates = method != reqwest::Method::GET;
    if let Some(recorded_events) = recorded["sse"].as_array() {
        let live = sse_events(&text);
        let want: Vec<&str> = recorded_events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        let got: Vec<&str> = live.iter().map(|(name, _)| name.as_str()).collect();
        if got != want {
            problems.push(format!("events {got:?} (recorded {want:?})"));
        }
        let mut seen = Vec::new();
        for event in recorded_events {
            let name = event["event"].as_str().unwrap();
            let live_of_name: Vec<Value> = live
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, d)| d.clone())
                .collect();
            let recorded_of_name: Vec<Value> = recorded_events
                .iter()
                .filter(|e| e["event"] == name)
                .map(|e| e["data"].clone())
                .collect();
            if creates {
                harvest(
                    &Value::Array(recorded_of_name),
                    &Value::Array(live_of_name.clone()),
                    &sent,
                    ids,
                );
            }
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            if let Some(first) = live_of_name.first() {
                compare(
                    &event["data"],
                    first,
                    &format!("{name}."),
                    0,
                    ids,
                    &mut problems,
                );
                if first["event"] != name {
                    problems.push(format!("{name}: data.event is {}", first["event"]));
                }
            }
        }
    } else if let Some(recorded_body) = recorded.get("body_json").filter(|b| !b.is_null()) {
        let Ok(live) = serde_json::from_str::<Value>(&text) else {
            problems.push(format!("body is not JSON: {text:.60}"));
            return problems;
        };
        match (recorded_body, &live) {
            (Value::Array(recorded_items), Value::Array(live_items)) => {
                let replayable = recorded_items
                    .iter()
                    .filter(|item| match item.get("run_input").and_then(Value::as_str) {
                        Some(input) => messages.iter().any(|m| m == input),
                        None => true,
                    })
                    .count();
                if live_items.len() < replayable {
                    problems.push(format!(
                        "list has {} items (recorded {replayable} of this set)",
                        live_items.len()
                    ));
                }
                let by_id = recorded_items.iter().all(|item| item.get("id").is_some());
                for (index, item) in recorded_items.iter().enumerate() {
                    let live_item = if by_id {
                        live_items.iter().find(|l| l.get("id") == item.get("id"))
                    } else {
                        live_items.get(index)
                    };
                    match live_item {
                        Some(live_item) => compare(
                            item,
                            live_item,
                            &format!("[{index}]."),
                            0,
                            ids,
                            &mut problems,
                        ),
                        None if by_id => problems.push(format!("missing list item {}", item["id"])),
                        None => {}
                    }
                }
            }
            (Value::Array(_), other) => {
                problems.push(format!("body is {} (recorded list)", type_name(other)))
            }
            (recorded_body, live) => {
                if creates {
                    harvest(recorded_body, live, &sent, ids);
                }
                compare(recorded_body, live, "", 0, ids, &mut problems);
                if recorded_status >= 400 && live.get("detail").is_none() {
                    problems.push("error body has no `detail`".into());
                }
            }
        }
    } else if recorded["body_text"] == "" && !text.is_empty() {
        problems.push(format!(
            "body not empty ({} bytes; recorded empty)",
            text.len()
        ));
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_exchange_replays_with_agnos_shapes() {
    let mock = MockOpenAi::start().await;
    mock.set_marker_fault(Fault::Status(400));
    components::use_upstream(components::Upstream::BaseUrl(mock.base_url()));
    let os = components::builder()
        .db(Db::memory())
        .auth(JwtAuth::hs256(SECRET.as_bytes()))
        .build()
        .await
        .expect("the compat OS builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(os.serve_on(listener, std::future::pending()));

    let captures = captures();
    assert!(
        captures.len() >= 29,
        "the recordings are in tests/fixtures/wire"
    );
    let messages = sent_messages(&captures);
    let mut ids = HashMap::new();
    let mut background_runs = Vec::new();
    let mut failures = Map::new();
    for capture in &captures {
        let problems = replay(&base, capture, &mut ids, &messages, &background_runs).await;
        if capture.value["response"]["status"] == 202
            && let Some(run_id) = capture.value["response"]["body_json"]["run_id"].as_str()
        {
            background_runs.push(
                ids.get(run_id)
                    .cloned()
                    .unwrap_or_else(|| run_id.to_owned()),
            );
        }
        if !problems.is_empty() {
            failures.insert(capture.name.clone(), Value::from(problems));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} recorded exchanges differ:\n{}",
        failures.len(),
        captures.len(),
        serde_json::to_string_pretty(&failures).unwrap()
    );
}
