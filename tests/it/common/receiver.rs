//! A webhook receiver on loopback: records every request (headers, raw body) and answers with
//! the statuses it is told to, then 200; it can also hang, as a dead endpoint does.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer with, and a body other than `answered {status}`.
    answers: Mutex<VecDeque<(u16, Option<Vec<u8>>)>>,
    hang: AtomicBool,
    delay_ms: std::sync::atomic::AtomicU64,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let state = shared.clone();
                    async move {
                        if state.hang.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        let delay = state.delay_ms.load(Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        let headers = headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_owned(),
                                    v.to_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect();
                        if let Ok(mut received) = state.received.lock() {
                            received.push(Received {
                                headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                                at: Instant::now(),
                            });
                        }
                        let (status, body) = state
                            .answers
                            .lock()
                            .ok()
                            .and_then(|mut a| a.pop_front())
                            .unwrap_or((200, None));
                        (
                            axum::http::StatusCode::from_u16(status)
                                .unwrap_or(axum::http::StatusCode::OK),
                            body.unwrap_or_else(|| format!("answered {status}").into_bytes()),
                        )
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// The next requests are answered with these statuses, in order (then 200 again).
    pub fn answer_next(&self, statuses: &[u16]) {
        if let Ok(mut answers) = self.state.answers.lock() {
            answers.extend(statuses.iter().map(|s| (*s, None)));
        }
    }

    /// The next request is answered with `status` and `body`.
    pub fn answer_next_with(&self, status: u16, body: &[u8]) {
        if let Ok(mut answers) = self.state.answers.lock() {
            answers.push_back((status, Some(body.to_vec())));
        }
    }

    /// From now on each request is answered after `delay`.
    pub fn slow_down(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// From now on requests are never answered.
    pub fn hang(&self) {
        self.state.hang.store(true, Ordering::Relaxed);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The requests received once there are at least `count`, waiting up to `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
