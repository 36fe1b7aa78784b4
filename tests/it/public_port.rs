//! The public port holds its own against hostile clients: a connection cap, and clients that
//! dribble headers (slowloris) or stall mid-body are cut off, while everyone else is served.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TestStack, error_codes};

/// Reads until the server closes the connection (or `within` passes); returns what it sent.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let mut buffer = [0u8; 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn connections_are_capped_and_slow_clients_are_cut_off() {
    let stack = TestStack::start_configured(|config, _| {
        config.router.max_connections = 2;
        config.router.header_read_timeout_seconds = 1;
        config.router.body_read_timeout_seconds = 1;
    })
    .await;
    let addr = stack.stack.router.addr();

    // Two clients hold a connection each, sending half a request's headers and no more.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: nexus\r\n")
            .await
            .expect("write");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A third connection is over the cap: closed at once, unanswered.
    let mut third = TcpStream::connect(addr).await.expect("connect");
    let answer = until_closed(&mut third, Duration::from_millis(500)).await;
    assert_eq!(answer.as_deref(), Some(""), "closed at once, unanswered");

    // The dribbling clients are cut off after the header timeout (1 s here): closed, where
    // without a timeout they would stay open (waiting five times as long tells the two apart on
    // any machine; how fast is not this test's business).
    for stream in &mut held {
        let answer = until_closed(stream, Duration::from_secs(5)).await;
        assert!(answer.is_some(), "still open after 5 s");
    }

    // A body that stalls halfway gets 408.
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .expect("write");
    let answer = until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Everyone else is served.
    let data = stack.data("{ __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Query");
    stack.stop().await;
}

/// One raw HTTP/1.1 exchange on a new connection (`Connection: close`); the whole answer.
async fn raw(stack: &TestStack, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(stack.stack.router.addr())
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered within 10 s")
        .expect("read");
    answer
}

#[tokio::test]
async fn the_public_port_keeps_the_routers_csrf_and_cors_rules_compresses_and_bounds_chunked_bodies()
 {
    let stack = TestStack::start_with_router_yaml(
        "plugins:\n  nexus.limits:\n    max_request_bytes: 2000\n",
    )
    .await;
    let url = stack.stack.graphql_url();
    let client = reqwest::Client::new();

    // A request a cross-site form could send without a preflight is refused, as apollo-router
    // refuses it on its own port; a preflighted one is served.
    for (content_type, preflight) in [(Some("text/plain"), false), (None, false)] {
        let mut request = client
            .post(&url)
            .body(r#"{"query":"{ __typename }"}"#.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if preflight {
            request = request.header("apollo-require-preflight", "true");
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), 400, "{content_type:?}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CSRF_ERROR",
            "{body}"
        );
    }
    let get = |preflight: bool| {
        let mut request = client.get(format!("{url}?query=%7B__typename%7D"));
        if preflight {
            request = request.header("apollo-require-preflight", "true");
        }
        request.send()
    };
    assert_eq!(get(false).await.expect("send").status(), 400);
    let served = get(true).await.expect("send");
    assert_eq!(served.status(), 200);
    let body: serde_json::Value = served.json().await.expect("json");
    assert_eq!(body["data"]["__typename"], "Query", "{body}");

    // A browser's CORS preflight is answered as apollo-router's `cors` settings say (by default,
    // Apollo Studio's origin only), and so is the request that follows.
    let studio = "https://studio.apollographql.com";
    for (origin, allowed) in [(studio, true), ("https://evil.test", false)] {
        let preflight = client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .expect("send");
        let allow = |response: &reqwest::Response| {
            response
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            allow(&preflight).as_deref() == Some(origin),
            allowed,
            "{origin}"
        );
        let answer = client
            .post(&url)
            .header("origin", origin)
            .header("content-type", "application/json")
            .body(r#"{"query":"{ __typename }"}"#)
            .send()
            .await
            .expect("send");
        assert_eq!(
            allow(&answer).as_deref() == Some(origin),
            allowed,
            "{origin}"
        );
    }

    // Answers are compressed for clients that accept it, and only for them (raw HTTP: reqwest
    // would ask for and undo compression itself).
    let query = json!({ "query": "{ __schema { types { name } } }" }).to_string();
    for (accept, compressed) in [("accept-encoding: gzip\r\n", true), ("", false)] {
        let request = format!(
            "POST /graphql HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\n{accept}Content-Length: {}\r\nConnection: close\r\n\r\n{query}",
            query.len()
        );
        let answer = raw(&stack, request.as_bytes()).await;
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head");
        let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
        let body = &answer[split + 4..];
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(
            head.contains("content-encoding: gzip"),
            compressed,
            "{head}"
        );
        // (chunked: the first chunk's size line comes before the gzip magic)
        let gzip = body.windows(2).any(|w| w == [0x1f, 0x8b]);
        assert_eq!(gzip, compressed, "{head}");
        if !compressed {
            assert!(String::from_utf8_lossy(body).contains("__Schema"), "{head}");
        }
    }

    // A body sent in chunks (no Content-Length) is judged by its real size.
    let padding = " ".repeat(3000);
    let json = format!("{{\"query\":\"{{ __typename }}{padding}\"}}");
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{json}\r\n0\r\n\r\n",
        json.len()
    );
    let answer = String::from_utf8_lossy(&raw(&stack, request.as_bytes()).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("MAX_REQUEST_BYTES_EXCEEDED"), "{answer}");
    stack.stop().await;
}

#[tokio::test]
async fn the_public_port_reads_as_much_of_a_body_as_the_routers_own_limits_do() {
    // Raised over the port's former fixed 4 MiB: the router reads up to twice this.
    let stack = TestStack::start_with_router_yaml(
        "plugins:\n  nexus.limits:\n    max_request_bytes: 3000000\n",
    )
    .await;
    let url = stack.stack.graphql_url();
    let query = |size: usize| {
        let padding = " ".repeat(size);
        format!(r#"{{"query":"{{ __typename }}{padding}"}}"#)
    };
    for (size, status, code) in [
        (2_500_000, 200, None),
        (5_000_000, 400, Some("MAX_REQUEST_BYTES_EXCEEDED")),
        (6_500_000, 413, None),
    ] {
        let response = stack
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(query(size))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), status, "{size} bytes");
        let text = response.text().await.unwrap_or_default();
        if let Some(code) = code {
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(error_codes(&body), [code], "{size} bytes: {text}");
        }
    }
    stack.stop().await;
}

const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty HTTP/2 SETTINGS frame: what a client sends right after the preface.
const HTTP2_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

#[tokio::test]
async fn connections_that_never_complete_a_request_are_closed_and_cannot_starve_the_port() {
    let stack = TestStack::start_configured(|config, _| {
        config.router.max_connections = 4;
        config.router.header_read_timeout_seconds = 1;
        config.router.body_read_timeout_seconds = 5;
    })
    .await;
    let addr = stack.stack.router.addr();

    // Every permit is taken by a connection that will never complete a request: one silent, one
    // halfway through the HTTP/2 preface, one with the whole preface, one after its SETTINGS.
    let mut idle = Vec::new();
    for sent in [
        Vec::new(),
        HTTP2_PREFACE[..10].to_vec(),
        HTTP2_PREFACE.to_vec(),
        [HTTP2_PREFACE, &HTTP2_SETTINGS].concat(),
    ] {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&sent).await.expect("write");
        idle.push(stream);
    }
    // The port is not starved: a normal request is served once the header timeout (1 s) has
    // closed them (until then a new connection is over the cap and closed at once, unanswered);
    // "within 10 s" only bounds a failing test.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client
            .post(stack.stack.graphql_url())
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await;
        if let Ok(answer) = answer {
            assert_eq!(answer.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "never served: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Each idle one was closed by the server (an HTTP/2 one may say GOAWAY first).
    for (i, stream) in idle.iter_mut().enumerate() {
        let closed = until_closed(stream, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "idle connection {i} was never closed");
    }

    // HTTP/1 keep-alive: one whole request, then silence: answered, then closed.
    let mut kept = TcpStream::connect(addr).await.expect("connect");
    let body = r#"{"query":"{ __typename }"}"#;
    kept.write_all(
        format!(
            "POST /graphql HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let answer = until_closed(&mut kept, Duration::from_secs(10)).await;
    let answer = answer.expect("an idle keep-alive connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // HTTP/2 idle between streams: one request answered, then the server closes the connection.
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut client, connection) = h2::client::handshake(stream).await.expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}/graphql?query=%7B__typename%7D"))
        .header("apollo-require-preflight", "true")
        .body(())
        .expect("request");
    let (response, _) = client.send_request(request, true).expect("send");
    let response = response.await.expect("answer");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut answer = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("chunk");
        let _ = body.flow_control().release_capacity(chunk.len());
        answer.extend_from_slice(&chunk);
    }
    assert!(
        String::from_utf8_lossy(&answer).contains("Query"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(client);
    // (The client keeps its side open: only the server can end this connection.)
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection was never closed");

    // A request in flight is not idle: a body that arrives slower than the header timeout (but
    // within the body timeout) is still answered.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    let (first, rest) = body_halves();
    slow.write_all(first.as_bytes()).await.expect("write");
    // On purpose longer than the header timeout: this client is slow, not the test.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slow.write_all(rest.as_bytes()).await.expect("write");
    let answer = until_closed(&mut slow, Duration::from_secs(10))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stack.stop().await;
}

/// A request (with `Connection: close`) cut in two after its headers and half its body.
fn body_halves() -> (String, String) {
    let body = r#"{"query":"{ __typename }"}"#;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (a, b) = body.split_at(body.len() / 2);
    (format!("{head}{a}"), b.to_owned())
}

/// Fails today's main: the OAuth endpoints and the account pages, which GraphQL's budgets do not
/// cover, took any number of requests from one address.
#[tokio::test]
async fn the_oauth_endpoints_and_account_pages_have_a_budget_per_address() {
    let stack = TestStack::start_configured(|config, _| {
        config.router.oauth_requests_per_minute = 5;
    })
    .await;
    let from = |address: &str| {
        reqwest::Client::builder()
            .local_address(address.parse::<std::net::IpAddr>().expect("address"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    };
    let base = stack.stack.keys.issuer().to_owned();
    let greedy = from("127.0.0.5");
    let paths = [
        "/oauth/authorize?client_id=nobody",
        "/account/reset-password?token=x",
        "/oauth/authorize?client_id=nobody",
        "/.well-known/openid-configuration",
        "/oauth/authorize?client_id=nobody",
        "/account/verify-email?token=x",
        "/oauth/authorize?client_id=nobody",
    ];
    let mut statuses = Vec::new();
    for path in paths {
        let answer = greedy
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answered");
        statuses.push((
            path,
            answer.status().as_u16(),
            answer.headers().get("retry-after").cloned(),
        ));
    }
    // Five passthrough requests pass (the well-known document is not one of them); the sixth is
    // refused with when to retry.
    for (path, status, _) in &statuses[..6] {
        assert_ne!(*status, 429, "{path}");
    }
    let (_, status, retry_after) = &statuses[6];
    assert_eq!(*status, 429);
    let retry: u64 = retry_after
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!((1..=60).contains(&retry), "{retry_after:?}");
    // Another address is not stopped, nor is GraphQL from this one.
    let other = from("127.0.0.6")
        .get(format!("{base}/oauth/authorize?client_id=nobody"))
        .send()
        .await
        .expect("answered");
    assert_ne!(other.status().as_u16(), 429);
    let graphql = greedy
        .post(stack.stack.graphql_url())
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(graphql.status().as_u16(), 200);
    stack.stop().await;
}
