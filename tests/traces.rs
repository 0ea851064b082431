//! The `otel` feature: a run's spans reach an OTLP/HTTP collector (a real one, in this process,
//! on 127.0.0.1) in the trace of the `traceparent` the client sent, the request's span a child
//! of the client's, with the run id, session id, component and model as span attributes.
//!
//! Run with `cargo nextest run --features otel --test traces`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentos::TestModel;
use agentos::otel::Otel;
use agentos::prelude::*;
use serde_json::Value;
use support::{TestServer, client, form};

/// A field of a protobuf message, as the wire format gives it.
enum Field<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().expect("a complete varint");
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

/// The fields of one protobuf message, in order: (number, value).
fn fields(mut bytes: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let field = match key & 7 {
            0 => {
                varint(&mut bytes);
                Field::Varint
            }
            1 => {
                bytes = &bytes[8..];
                Field::Fixed
            }
            2 => {
                let len = varint(&mut bytes) as usize;
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Field::Bytes(value)
            }
            5 => {
                bytes = &bytes[4..];
                Field::Fixed
            }
            other => panic!("unexpected wire type {other}"),
        };
        out.push((key >> 3, field));
    }
    out
}

fn messages(bytes: &[u8], number: u64) -> Vec<&[u8]> {
    fields(bytes)
        .into_iter()
        .filter_map(|(n, field)| match field {
            Field::Bytes(value) if n == number => Some(value),
            _ => None,
        })
        .collect()
}

fn first(bytes: &[u8], number: u64) -> Vec<u8> {
    messages(bytes, number)
        .first()
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

/// A span as OTLP carries it (opentelemetry/proto/trace/v1/trace.proto).
#[derive(Debug)]
struct Span {
    trace_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    name: String,
    /// String attributes: (key, value).
    attributes: Vec<(String, String)>,
    /// `service.name` of the resource the span came from.
    service: String,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// KeyValue { key = 1; AnyValue value = 2 { string_value = 1 } }, string values only.
fn string_attributes(messages: Vec<&[u8]>) -> Vec<(String, String)> {
    messages
        .into_iter()
        .filter_map(|kv| {
            let key = String::from_utf8(first(kv, 1)).ok()?;
            let value = String::from_utf8(first(&first(kv, 2), 1)).ok()?;
            Some((key, value))
        })
        .collect()
}

/// ExportTraceServiceRequest { ResourceSpans resource_spans = 1 { Resource resource = 1;
/// ScopeSpans scope_spans = 2 { Span spans = 2 } } }.
fn spans(request: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    for resource_spans in messages(request, 1) {
        let resource = first(resource_spans, 1);
        let service = string_attributes(messages(&resource, 1))
            .into_iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v)
            .unwrap_or_default();
        for scope_spans in messages(resource_spans, 2) {
            for span in messages(scope_spans, 2) {
                out.push(Span {
                    trace_id: first(span, 1),
                    parent_span_id: first(span, 4),
                    name: String::from_utf8(first(span, 5)).unwrap(),
                    attributes: string_attributes(messages(span, 9)),
                    service: service.clone(),
                });
            }
        }
    }
    out
}

/// An OTLP/HTTP collector on a real socket: keeps the body of every `POST /v1/traces` and
/// answers each with an empty ExportTraceServiceResponse (everything accepted). HTTP/1.1 by
/// hand, keep-alive included, so the test needs no server crate of its own.
async fn collector() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let received = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let kept = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        let mut chunk = [0u8; 8192];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
                    assert!(head.starts_with("post /v1/traces "), "{head}");
                    assert!(
                        head.contains("content-type: application/x-protobuf"),
                        "{head}"
                    );
                    let length: usize = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .expect("a content-length")
                        .trim()
                        .parse()
                        .unwrap();
                    while buffer.len() < head_end + length {
                        let mut chunk = [0u8; 8192];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buffer.drain(..head_end + length).skip(head_end).collect();
                    kept.lock().unwrap().push(body);
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                                  content-length: 0\r\n\r\n";
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_spans_reach_the_collector_in_the_callers_trace() {
    let (collector, received) = collector().await;
    let guard = Arc::new(
        Otel::new()
            .endpoint(collector)
            .service_name("agentos-traces-test")
            .init()
            .expect("tracing set up"),
    );
    let server = TestServer::with(
        AgentOs::builder().team(
            Team::new("Support")
                .with_model(TestModel::with_id("leader-model"))
                .with_members([Agent::new("Helper").with_model(TestModel::new())]),
        ),
    )
    .await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let run: Value = client()
        .post(server.url("/teams/support/runs"))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .multipart(form(&[("message", "hello"), ("stream", "false")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "COMPLETED");
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let session_id = run["session_id"].as_str().unwrap().to_owned();

    // The request's span ends as its answer is sent: flush until every span is there.
    let mut seen = Vec::new();
    for _ in 0..50 {
        let flushing = Arc::clone(&guard);
        tokio::task::spawn_blocking(move || flushing.flush())
            .await
            .unwrap()
            .expect("spans sent");
        seen = received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|body| spans(body))
            .filter(|span| hex(&span.trace_id) == trace_id)
            .collect();
        let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
        if ["request", "resolve", "run", "model_call"]
            .iter()
            .all(|name| names.contains(name))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let named = |name: &str| {
        seen.iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no {name} span in the caller's trace: {seen:#?}"))
    };

    let request = named("request");
    assert_eq!(
        hex(&request.parent_span_id),
        parent_id,
        "a child of the caller's span"
    );
    assert_eq!(request.service, "agentos-traces-test");
    assert_eq!(request.attribute("method"), Some("POST"));

    let ran = named("run");
    assert_eq!(ran.attribute("run_id"), Some(run_id.as_str()));
    assert_eq!(ran.attribute("session_id"), Some(session_id.as_str()));
    assert_eq!(ran.attribute("kind"), Some("team"));
    assert_eq!(ran.attribute("id"), Some("support"));
    assert_eq!(ran.attribute("model"), Some("leader-model"));

    let resolved = named("resolve");
    assert_eq!(resolved.attribute("run_id"), Some(run_id.as_str()));

    let calls: Vec<&Span> = seen.iter().filter(|s| s.name == "model_call").collect();
    assert!(
        calls
            .iter()
            .any(|call| call.attribute("model") == Some("leader-model")
                && call.attribute("run_id") == Some(run_id.as_str())),
        "{calls:#?}"
    );
    // The member's calls are in the same trace, under its own run id.
    assert!(
        calls
            .iter()
            .any(|call| call.attribute("model") == Some("test-model")),
        "{calls:#?}"
    );

    // A request without a traceparent starts a trace of its own.
    let before = received.lock().unwrap().len();
    let alone = client().get(server.url("/teams")).send().await.unwrap();
    assert!(alone.status().is_success());
    let flushing = Arc::clone(&guard);
    tokio::task::spawn_blocking(move || flushing.flush())
        .await
        .unwrap()
        .unwrap();
    let later: Vec<Span> = received.lock().unwrap()[before..]
        .iter()
        .flat_map(|body| spans(body))
        .filter(|span| span.name == "request" && span.attribute("path") == Some("/teams"))
        .collect();
    assert!(!later.is_empty());
    assert!(later.iter().all(|span| hex(&span.trace_id) != trace_id));
}
