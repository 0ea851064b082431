//! Every error answer explains itself: whatever refuses a request (the router, an extractor,
//! the body limit, a bound on a parameter, the token check) answers with its usual status and
//! a JSON body with `detail` and `error_code`. Over a real socket; raw TCP where reqwest would
//! not send the request as written.

mod support;

use std::time::Duration;

use agentos::server::JwtAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestServer, builder, client, form, token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &[u8] = b"answers-hs256-secret-with-at-least-32-bytes";

/// Asserts the answer's status, that it is JSON, and that its `detail` says something; gives
/// the body.
async fn explained(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "{}", response.url());
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/json", "{}", response.url());
    let body: Value = response.json().await.unwrap();
    assert_has_detail(&body);
    body
}

fn assert_has_detail(body: &Value) {
    let said = match &body["detail"] {
        Value::String(text) => !text.trim().is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    };
    assert!(said, "no detail: {body}");
    assert!(body["error_code"].is_string(), "no error_code: {body}");
}

/// An answer read off a raw socket: status, headers (lowercased names), body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Sends `request` as written and reads the answer up to the server closing the connection
/// (every request here says `Connection: close`).
async fn raw(server: &TestServer, request: &[u8]) -> Raw {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = answer[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    Raw {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

fn assert_raw_explained(answer: &Raw, status: u16) -> Value {
    assert_eq!(answer.status, status);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let body = answer.json();
    assert_has_detail(&body);
    body
}

#[tokio::test]
async fn the_router_explains_unknown_routes_and_wrong_methods() {
    let server = TestServer::with(builder()).await;
    let body = explained(
        client()
            .get(server.url("/no/such/route"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(body["detail"], "Not Found");

    let response = client().put(server.url("/teams")).send().await.unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    let body = explained(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(body["detail"], "Method Not Allowed");
    assert!(allow.contains("GET"), "Allow: {allow}");

    // A method no route knows, written by hand.
    let answer = raw(
        &server,
        b"BREW /teams HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_raw_explained(&answer, 405);
    assert!(answer.header("allow").is_some());
}

#[tokio::test]
async fn bodies_of_the_wrong_type_or_shape_are_explained() {
    let server = TestServer::with(builder()).await;
    let runs = server.url("/teams/support-team/runs");

    // No content type, and one no route takes: 415.
    explained(
        client()
            .post(&runs)
            .body("message=hi")
            .send()
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    explained(
        client()
            .post(&runs)
            .header("content-type", "text/csv")
            .body("message,hi")
            .send()
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;

    // Multipart with no boundary, and multipart cut off in the middle of a part.
    explained(
        client()
            .post(&runs)
            .header("content-type", "multipart/form-data")
            .body("--x\r\n")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    explained(
        client()
            .post(&runs)
            .header("content-type", "multipart/form-data; boundary=XYZ")
            .body("--XYZ\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhel")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Urlencoded with a field of the wrong type, and without the required one.
    let body = explained(
        client()
            .post(&runs)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("message=hi&background=%ZZmaybe")
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "background"]));
    explained(
        client()
            .post(&runs)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("&&=&%%%")
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // JSON that does not parse, that is not an object, and that nests too deeply.
    for bad in [
        "{\"message\": ",
        "[1, 2]",
        &format!(
            "{{\"message\": \"hi\", \"x\": {}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        ),
    ] {
        explained(
            client()
                .post(&runs)
                .header("content-type", "application/json")
                .body(bad.to_owned())
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // On a session route, bad JSON is FastAPI's 422, and a missing content type too.
    explained(
        client()
            .post(server.url("/sessions"))
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    explained(
        client()
            .patch(server.url("/sessions/abc"))
            .body("{}")
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_on_every_route() {
    let server = TestServer::with(builder().body_limit(1024)).await;
    let big = "x".repeat(4096);
    explained(
        client()
            .post(server.url("/teams/support-team/runs"))
            .multipart(form(&[("message", &big)]))
            .send()
            .await
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    explained(
        client()
            .post(server.url("/agents/tenant-agent/runs"))
            .header("content-type", "application/json")
            .body(json!({"message": big}).to_string())
            .send()
            .await
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    explained(
        client()
            .post(server.url("/sessions"))
            .header("content-type", "application/json")
            .body(json!({"session_name": big}).to_string())
            .send()
            .await
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // A Content-Length over the limit, body never sent in full.
    let answer = raw(
        &server,
        b"POST /teams/support-team/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nmessage=hi",
    )
    .await;
    assert_raw_explained(&answer, 413);
    // No declared length: chunks past the limit are cut as they are read, still a 413.
    let chunk = format!("{:x}\r\n{}\r\n", 2048, "x".repeat(2048));
    let request = format!(
        "POST /teams/support-team/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n\
         {chunk}0\r\n\r\n"
    );
    assert_raw_explained(&raw(&server, request.as_bytes()).await, 413);
    let request = format!(
        "POST /sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}0\r\n\r\n"
    );
    assert_raw_explained(&raw(&server, request.as_bytes()).await, 413);
}

#[tokio::test]
async fn path_parameters_that_do_not_decode_are_explained() {
    let server = TestServer::with(builder()).await;
    for path in [
        "/teams/%FF",
        "/sessions/%C3%28/runs",
        "/agents/tenant-agent/runs/%FE%FF",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = raw(&server, request.as_bytes()).await;
        assert_raw_explained(&answer, 400);
    }
}

#[tokio::test]
async fn numeric_parameters_are_bounded_and_never_panic() {
    let server = TestServer::with(builder()).await;
    let sessions = |query: &str| server.url(&format!("/sessions?{query}"));

    // The request that used to overflow the offset and drop the connection.
    let body = explained(
        client()
            .get(sessions("page=9223372036854775807&limit=200"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["detail"][0]["loc"], json!(["query", "page"]));
    assert_eq!(body["detail"][0]["type"], "less_than_equal");

    for (query, name, kind) in [
        ("page=-1", "page", "greater_than_equal"),
        ("page=abc", "page", "int_parsing"),
        ("page=1.5", "page", "int_parsing"),
        ("page=99999999999999999999999999", "page", "less_than_equal"),
        ("limit=0", "limit", "greater_than_equal"),
        ("limit=-9223372036854775808", "limit", "greater_than_equal"),
        ("limit=ten", "limit", "int_parsing"),
    ] {
        let body = explained(
            client().get(sessions(query)).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["detail"][0]["loc"], json!(["query", name]), "{query}");
        assert_eq!(body["detail"][0]["type"], kind, "{query}");
    }

    // In range: the last page served is empty, a huge limit is served as 200, page 0 as 1.
    for (query, page, limit) in [
        ("page=1000000000&limit=200", 1_000_000_000, 200),
        ("limit=9223372036854775807", 1, 200),
        ("page=0", 1, 20),
    ] {
        let response = client().get(sessions(query)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["meta"]["page"], page, "{query}");
        assert_eq!(body["meta"]["limit"], limit, "{query}");
        assert_eq!(body["data"], json!([]), "{query}");
    }

    // A parameter given twice is the query extractor's 400, explained.
    explained(
        client()
            .get(sessions("page=1&page=2"))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Event indexes past 64 bits, or not numbers, are refused, in the form and the header.
    let run: Value = client()
        .post(server.url("/teams/support-team/runs"))
        .multipart(form(&[("message", "hi"), ("stream", "false")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = run["run_id"].as_str().unwrap();
    let resume = server.url(&format!("/teams/support-team/runs/{run_id}/resume"));
    for index in ["18446744073709551616", "9223372036854775808", "x"] {
        explained(
            client()
                .post(&resume)
                .multipart(form(&[("last_event_index", index)]))
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
        )
        .await;
        explained(
            client()
                .get(&resume)
                .header("last-event-id", index)
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // The largest index is served: nothing after it.
    let response = client()
        .get(&resume)
        .header("last-event-id", i64::MAX.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_with_a_critical_header_is_refused() {
    let server = TestServer::with(builder().auth(JwtAuth::hs256(SECRET))).await;
    let claims = json!({"sub": "u1", "exp": 4_000_000_000u64});
    let sign = |header: jsonwebtoken::Header| {
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    };
    let with_crit = sign(jsonwebtoken::Header {
        crit: Some(vec!["exp".into()]),
        ..jsonwebtoken::Header::default()
    });
    let with_extension = {
        let mut extras = jsonwebtoken::Extras::default();
        extras.insert("b64", false);
        sign(jsonwebtoken::Header {
            crit: Some(vec!["b64".into()]),
            extras,
            ..jsonwebtoken::Header::default()
        })
    };
    for bad in [with_crit, with_extension] {
        let response = client()
            .get(server.url("/teams"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body = explained(response, StatusCode::UNAUTHORIZED).await;
        assert!(
            body["detail"].as_str().unwrap().contains("critical"),
            "{body}"
        );
    }
    // The same token without `crit` is let through: the header alone made the difference.
    let response = client()
        .get(server.url("/teams"))
        .bearer_auth(token(SECRET, "u1", json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
