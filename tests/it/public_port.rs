//! The public port holds its own against hostile clients: a connection cap, and clients that
//! dribble headers (slowloris) or stall mid-body are cut off, while everyone else is served.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestStack;

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

    // The dribbling clients are cut off after the header timeout (1 s here).
    let started = Instant::now();
    for stream in &mut held {
        let answer = until_closed(stream, Duration::from_secs(5)).await;
        assert!(answer.is_some(), "still open after 5 s");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

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
