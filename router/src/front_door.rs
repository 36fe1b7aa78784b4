//! The router's public listener. apollo-router restarts its HTTP server on every supergraph
//! reload, and a request arriving on a connection the old server is closing fails without an
//! answer. The front door owns the client connections, which never restart, and forwards each
//! request to the router on loopback, sending it again when the router closed the connection
//! before answering (the request was not processed, so this is safe for mutations too).
//! It also records the client's address in `X-Forwarded-For`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Requests larger than this are refused (GraphQL requests are small).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a request may keep being retried while the router restarts.
const RETRY_FOR: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Upstream {
    base: String,
    /// Exact paths served by another service (e.g. `/oauth/token` by apps), path → URL.
    passthrough: std::collections::BTreeMap<String, String>,
    client: reqwest::Client,
}

pub struct FrontDoor {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl FrontDoor {
    pub fn start(
        listener: TcpListener,
        router: SocketAddr,
        passthrough: std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<FrontDoor> {
        let upstream = Upstream {
            base: format!("http://{router}"),
            passthrough,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        };
        let app = axum::Router::new().fallback(forward).with_state(upstream);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok(FrontDoor {
            stop: Some(stop),
            task,
        })
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

async fn forward(
    State(upstream): State<Upstream>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = match upstream.passthrough.get(parts.uri.path()) {
        Some(url) => url.clone(),
        None => format!("{}{path}", upstream.base),
    };
    let mut headers = parts.headers.clone();
    for hop in [
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
    ] {
        headers.remove(hop);
    }
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(chain) => format!("{chain}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    let started = Instant::now();
    loop {
        let attempt = upstream
            .client
            .request(parts.method.clone(), &url)
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        match attempt {
            Ok(response) => return relay(response).await,
            // Refused or closed before any answer: the router is restarting.
            Err(e)
                if (e.is_connect() || e.is_request())
                    && !e.is_timeout()
                    && started.elapsed() < RETRY_FOR =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "the router did not answer");
                return (StatusCode::BAD_GATEWAY, "the router did not answer").into_response();
            }
        }
    }
}

async fn relay(response: reqwest::Response) -> Response {
    let status = response.status();
    let mut headers = response.headers().clone();
    for hop in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
    ] {
        headers.remove(hop);
    }
    match response.bytes().await {
        Ok(body) => {
            let mut out = Response::new(Body::from(body));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            out
        }
        Err(e) => {
            tracing::error!(error = %e, "the router's answer broke off");
            (StatusCode::BAD_GATEWAY, "the router's answer broke off").into_response()
        }
    }
}
