//! Slow and idle clients cannot starve the server: over real sockets on 127.0.0.1, with small
//! timeouts, a trickling head is closed within the header timeout, an idle kept-alive
//! connection after the idle timeout, a stalled body is answered 408, and runs and health
//! checks succeed while hundreds of idle connections are open, also past the connection bound.

mod support;

use std::time::{Duration, Instant};

use agentos::server::ConnectionLimits;
use reqwest::StatusCode;
use serde_json::Value;
use support::{SseReader, TestServer, builder, client, form, sleepy_team};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limits() -> ConnectionLimits {
    ConnectionLimits::default()
        .header_read_timeout(Duration::from_secs(1))
        .idle_timeout(Duration::from_secs(30))
        .body_read_timeout(Duration::from_secs(30))
}

async fn serve(limits: ConnectionLimits) -> TestServer {
    TestServer::with(
        builder()
            .team(sleepy_team("Sleepy Team", Duration::from_millis(700)))
            .connection_limits(limits),
    )
    .await
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// One whole answer read off `stream`: status, head and body (by `content-length`).
async fn read_answer(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    let mut body = bytes[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    (status, head, body)
}

/// How long until the server closes `stream` (reading and dropping whatever comes).
async fn closed_after(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection");
    started.elapsed()
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n";

/// Sends a head one byte at a time, every 100 ms, until the server closes; answers how long
/// that took.
async fn trickle(stream: TcpStream) -> Duration {
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        for byte in b"GET /health HTTP/1.1\r\nx-slow: "
            .iter()
            .chain([b'a'; 400].iter())
            .cycle()
        {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match read.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    writer.abort();
    closed.expect("a trickling client is closed");
    started.elapsed()
}

#[tokio::test]
async fn a_trickling_head_is_closed_within_the_header_timeout() {
    let server = serve(limits()).await;

    // On a new connection, from the accept.
    let took = trickle(connect(&server).await).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // On a kept-alive connection, from the first byte of the next head, well before the
    // idle timeout (30 s here).
    let mut stream = connect(&server).await;
    stream.write_all(HEALTH).await.unwrap();
    let (status, _, _) = read_answer(&mut stream).await;
    assert_eq!(status, 200);
    let took = trickle(stream).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A silent new connection has the same time to send its request.
    let mut silent = connect(&server).await;
    let took = closed_after(&mut silent, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Meanwhile the server answers as usual.
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = serve(
        ConnectionLimits::default()
            .header_read_timeout(Duration::from_secs(10))
            .idle_timeout(Duration::from_secs(1)),
    )
    .await;
    let mut stream = connect(&server).await;
    // Requests more often than the idle timeout keep the connection open past it.
    for _ in 0..5 {
        stream.write_all(HEALTH).await.unwrap();
        let (status, head, _) = read_answer(&mut stream).await;
        assert_eq!(status, 200);
        assert!(!head.contains("connection: close"), "{head}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let took = closed_after(&mut stream, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_a_slow_steady_one_is_not() {
    let server = serve(limits().body_read_timeout(Duration::from_secs(1))).await;
    let head = "POST /teams/support-team/runs HTTP/1.1\r\nhost: test\r\n\
                content-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\n";
    let mut stream = connect(&server).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"message=hel").await.unwrap();
    let started = Instant::now();
    let (status, head, body) =
        tokio::time::timeout(Duration::from_secs(10), read_answer(&mut stream))
            .await
            .expect("an answer within the body timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error_code"], "request_timeout", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("did not arrive"),
        "{body}"
    );
    closed_after(&mut stream, Duration::from_secs(5)).await;

    // A body that keeps coming and ends within the timeout is a run like any other.
    let message = b"message=hello&stream=false";
    let head = format!(
        "POST /teams/support-team/runs HTTP/1.1\r\nhost: test\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        message.len()
    );
    let mut stream = connect(&server).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in message.chunks(7) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        stream.write_all(piece).await.unwrap();
    }
    let (status, _, body) = read_answer(&mut stream).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let run: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(run["status"], "COMPLETED", "{run}");
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_answered_431_json() {
    let server = serve(limits()).await;
    let mut many = String::from("GET /health HTTP/1.1\r\nhost: test\r\n");
    for i in 0..agentos::server::MAX_HEADER_FIELDS {
        many.push_str(&format!("x-field-{i}: {i}\r\n"));
    }
    let large = format!(
        "GET /health HTTP/1.1\r\nhost: test\r\nx-large: {}\r\n",
        "a".repeat(agentos::server::MAX_HEADER_BYTES)
    );
    for head in [many, large] {
        let mut stream = connect(&server).await;
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
        let (status, head, body) = read_answer(&mut stream).await;
        assert_eq!(status, 431, "{head}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error_code"], "headers_too_large", "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("at most 100 fields"),
            "{body}"
        );
    }
    // Just under both limits is served.
    let mut fine = String::from("GET /health HTTP/1.1\r\nhost: test\r\n");
    for i in 0..agentos::server::MAX_HEADER_FIELDS - 1 {
        fine.push_str(&format!("x-field-{i}: {i}\r\n"));
    }
    let mut stream = connect(&server).await;
    stream.write_all(fine.as_bytes()).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    assert_eq!(read_answer(&mut stream).await.0, 200);
}

/// Opens `count` idle connections: every other one silent, the rest kept alive after a
/// request.
async fn idle_connections(server: &TestServer, count: usize) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(count);
    for i in 0..count {
        let mut stream = connect(server).await;
        if i % 2 == 1 && stream.write_all(HEALTH).await.is_ok() {
            // Past the bound an older connection may be the one closed; this one is served.
            let _ = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut stream)).await;
        }
        open.push(stream);
    }
    open
}

async fn a_run_and_health_succeed(server: &TestServer) {
    let started = Instant::now();
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let run = client()
        .post(server.url("/teams/support-team/runs"))
        .multipart(form(&[("message", "hello"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    let status = run.status();
    let run: Value = run.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// Whether the server has closed `stream`, by what has already arrived.
fn is_closed(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match stream.try_read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) => return error.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

#[tokio::test]
async fn a_run_succeeds_among_hundreds_of_idle_connections() {
    let quiet = limits()
        .header_read_timeout(Duration::from_secs(60))
        .idle_timeout(Duration::from_secs(60));
    let server = serve(quiet).await;
    let mut open = idle_connections(&server, 500).await;
    a_run_and_health_succeed(&server).await;
    let mut closed = 0;
    for stream in &mut open {
        closed += usize::from(is_closed(stream));
    }
    assert_eq!(closed, 0, "under the bound, nothing idle is closed early");
}

#[tokio::test]
async fn past_the_bound_idle_connections_make_room_for_new_ones() {
    let bounded = limits()
        .header_read_timeout(Duration::from_secs(60))
        .idle_timeout(Duration::from_secs(60))
        .max_connections(100);
    let server = serve(bounded).await;
    let mut open = idle_connections(&server, 500).await;
    a_run_and_health_succeed(&server).await;
    let mut still_open = 0;
    for stream in &mut open {
        still_open += usize::from(!is_closed(stream));
    }
    // The bound, plus the few served for health checks while it is full.
    assert!(
        still_open <= 100 + 32,
        "{still_open} idle connections still open"
    );
    assert!(still_open >= 50, "{still_open}: the newest idle ones stay");
}

#[tokio::test]
async fn health_answers_when_every_place_is_busy() {
    let bounded = limits()
        .header_read_timeout(Duration::from_secs(60))
        .max_connections(4);
    let server = serve(bounded).await;
    // Four connections in the middle of a request: not idle, so not closed to make room.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&server).await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nx-slow: ")
            .await
            .unwrap();
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = client().get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let run = client()
        .post(server.url("/teams/support-team/runs"))
        .multipart(form(&[("message", "hello"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(run.headers()["retry-after"], "1");
    let body: Value = run.json().await.unwrap();
    assert_eq!(body["error_code"], "too_many_connections", "{body}");

    // Once a busy one goes, runs are served again.
    busy.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    a_run_and_health_succeed(&server).await;
}

#[tokio::test]
async fn a_stream_and_a_run_longer_than_the_idle_timeout_complete() {
    // Each model call of the sleepy team takes 700 ms, so events are further apart than the
    // 300 ms idle timeout and the whole run takes several times it.
    let server = serve(limits().idle_timeout(Duration::from_millis(300))).await;
    let started = Instant::now();
    let response = client()
        .post(server.url("/teams/sleepy-team/runs"))
        .multipart(form(&[("message", "stream"), ("stream", "true")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let frames = SseReader::new(response).rest().await;
    assert!(started.elapsed() > Duration::from_millis(600));
    let last = frames.last().expect("events");
    assert_eq!(last.event, "TeamRunCompleted", "{last:?}");

    let run = client()
        .post(server.url("/teams/sleepy-team/runs"))
        .multipart(form(&[("message", "whole"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), StatusCode::OK);
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["status"], "COMPLETED", "{run}");
}

#[tokio::test]
async fn shutdown_closes_idle_and_half_sent_connections_at_once() {
    let quiet = limits()
        .header_read_timeout(Duration::from_secs(60))
        .idle_timeout(Duration::from_secs(60));
    let mut server = serve(quiet).await;
    let mut open = idle_connections(&server, 50).await;
    let mut half = connect(&server).await;
    half.write_all(b"GET /health HTTP/1.1\r\nx-slow: ")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = Instant::now();
    server.stop();
    let handle = std::mem::replace(&mut server.handle, tokio::spawn(async { Ok(()) }));
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("the server stops without waiting for idle clients")
        .unwrap()
        .unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    closed_after(&mut half, Duration::from_secs(2)).await;
    for stream in &mut open {
        closed_after(stream, Duration::from_secs(2)).await;
    }
}
