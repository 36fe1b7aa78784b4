//! The router's public listener. apollo-router restarts its HTTP server on every supergraph
//! reload (closing the connections it had), so the public port owns the client connections and
//! never restarts. A GraphQL request (`/graphql`) goes straight to the newest router pipeline in
//! process (`crate::pipeline`): no second HTTP hop, and a reload swaps the pipeline between two
//! requests, never under one. The request runs in its own task, so a client that goes away does
//! not cut a mutation off halfway.
//!
//! Everything else (health, well-known documents, `/oauth/token` passed through to apps,
//! requests from browsers, which need apollo-router's CORS layer) and any request before the
//! first pipeline exists is sent to the router's loopback port (read whole,
//! so it can be sent again) over pooled keep-alive connections, the answer streamed back. Such a
//! request is sent again only when the router did not process it: the connection was refused
//! (the router is restarting), or closed without an answer (a closing apollo-router answers
//! every request it has read). Anything else (a reset mid-answer, a timeout) is a 502.
//!
//! It also resolves the client's address (`nexus_protocol::client_address`: the peer, or what
//! the operator's trusted proxies say) into `nexus-client-address`, appends the peer to
//! `X-Forwarded-For`, and compresses answers for clients that accept it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::sync::Arc;

use apollo_router::services::router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulConnection;
use nexus_protocol::client_address::{self, CLIENT_ADDRESS_HEADER, TrustedProxies};
use nexus_protocol::rate_limit::{self, Bucket, RateLimits};
use nexus_protocol::token::KeyStore;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tower_http::CompressionLevel;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};

use crate::pipeline::Slot;

/// Where GraphQL is served (`supergraph.path` in router.yaml).
const GRAPHQL_PATH: &str = "/graphql";

#[derive(Clone)]
struct Upstream {
    router: SocketAddr,
    /// The newest pipeline of the router, for GraphQL requests.
    pipeline: Arc<Slot>,
    /// Exact paths served by another service (e.g. `/oauth/token` by apps), path → URL; the
    /// request's query goes along.
    passthrough: std::collections::BTreeMap<String, Uri>,
    client: Client<HttpConnector, Full<Bytes>>,
    trusted_proxies: TrustedProxies,
    /// Seals the resolved client address, so that subgraphs can tell it came from here.
    keys: Arc<KeyStore>,
    body_read_timeout: Duration,
    /// Bodies larger than this are refused (413).
    max_body: usize,
    restart_wait: Duration,
    /// The buckets the passthrough budget is kept in (shared with `nexus.rate_limit`'s store:
    /// Redis, fleet-wide, when configured).
    rate_limits: RateLimits,
    passthrough_budget: Bucket,
}

pub struct FrontDoor {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// What one client may hold of the public port.
#[derive(Clone, Copy, Debug)]
pub struct PortLimits {
    /// Open client connections; one more is closed at once (and logged).
    pub max_connections: usize,
    /// From a connection's accept (or the end of its last answer) to the end of a request's
    /// headers, on HTTP/1 and HTTP/2: a client that sends nothing, dribbles headers (slowloris),
    /// stops halfway through the HTTP/2 preface or keeps an idle connection is disconnected.
    pub header_read_timeout: Duration,
    /// Reading a request's body: a client that stalls mid-body gets 408.
    pub body_read_timeout: Duration,
    /// How long a request waits for apollo-router's own port while it restarts (browsers' and
    /// passthrough requests take that port).
    pub restart_wait: Duration,
    /// Requests per minute one client address may send to the paths served by another service
    /// (the OAuth endpoints, the account pages): GraphQL's budgets do not cover them.
    pub passthrough_per_minute: u64,
}

impl Default for PortLimits {
    fn default() -> Self {
        PortLimits {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            restart_wait: Duration::from_secs(10),
            passthrough_per_minute: 600,
        }
    }
}

impl FrontDoor {
    // One call, at the router's start: each argument is one thing the port needs.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        listener: TcpListener,
        router: SocketAddr,
        pipeline: Arc<Slot>,
        passthrough: std::collections::BTreeMap<String, String>,
        trusted_proxies: TrustedProxies,
        limits: PortLimits,
        max_body: usize,
        rate_limits: RateLimits,
        keys: Arc<KeyStore>,
    ) -> anyhow::Result<FrontDoor> {
        let passthrough = passthrough
            .into_iter()
            .map(|(path, url)| Ok((path, url.parse::<Uri>()?)))
            .collect::<anyhow::Result<_>>()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let upstream = Upstream {
            router,
            pipeline,
            passthrough,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
            trusted_proxies,
            keys,
            body_read_timeout: limits.body_read_timeout,
            max_body,
            restart_wait: limits.restart_wait,
            rate_limits,
            passthrough_budget: Bucket {
                capacity: limits.passthrough_per_minute.max(1),
                per_seconds: 60,
            },
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, upstream, limits, stopped));
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

/// Accepts client connections until `stopped`, within `limits`; then lets the requests in flight
/// finish (for at most 30 seconds).
async fn serve(
    listener: TcpListener,
    upstream: Upstream,
    limits: PortLimits,
    mut stopped: oneshot::Receiver<()>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection holds a receiver; the port has stopped when all of them are gone.
    let (stopping, _) = watch::channel(false);
    let mut builder = ConnectionBuilder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "the public port cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "too many connections: closed one");
            drop(stream);
            continue;
        };
        // Small GraphQL answers go out at once, not after Nagle's delay.
        let _ = stream.set_nodelay(true);
        let upstream = upstream.clone();
        let activity = Activity::new();
        let requests = activity.clone();
        let service = tower::ServiceBuilder::new()
            .layer(compression())
            .service_fn(move |request: http::Request<Incoming>| {
                let upstream = upstream.clone();
                let in_flight = requests.start();
                async move {
                    let response = forward(upstream, peer, request.map(Body::new)).await;
                    Ok::<_, std::convert::Infallible>(in_flight.until_sent(response))
                }
            });
        let service = hyper::service::service_fn(move |request| service.clone().oneshot(request));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let stop = stopping.subscribe();
        let idle_limit = limits.header_read_timeout;
        tokio::spawn(async move {
            watch_connection(connection, activity, idle_limit, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    if tokio::time::timeout(Duration::from_secs(30), stopping.closed())
        .await
        .is_err()
    {
        tracing::warn!("the public port closed with requests still in flight after 30 s");
    }
}

/// Runs `connection` until it ends, closing it when it has had no request in flight for
/// `idle_limit` (from its accept or the end of its last answer), whatever it sent meanwhile:
/// nothing, part of a request's headers or of the HTTP/2 preface, or an HTTP/2 connection idle
/// between streams. A connection that still holds a permit is someone else not served. Closing
/// is graceful first (HTTP/2 sends GOAWAY); one that stays idle a moment longer (a client that
/// never finished the HTTP/2 handshake cannot be closed gracefully) is dropped.
async fn watch_connection(
    connection: impl GracefulConnection,
    activity: Activity,
    idle_limit: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stop.wait_for(|stopping| *stopping) => {}
        () = activity.idle_for(idle_limit) => {}
    }
    connection.as_mut().graceful_shutdown();
    let grace = idle_limit.min(Duration::from_secs(1));
    tokio::select! {
        _ = connection.as_mut() => {}
        () = activity.idle_for_from_now(grace) => {}
    }
}

/// Whether a connection has a request in flight, and since when it has had none.
#[derive(Clone, Copy, Debug)]
struct Busy {
    in_flight: usize,
    /// `None` while a request is in flight. (An instant, not a flag: a request that starts and
    /// ends between two looks still restarts the clock.)
    idle_since: Option<Instant>,
}

/// One connection's requests in flight, from the service's side.
#[derive(Clone)]
struct Activity(Arc<watch::Sender<Busy>>);

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(watch::Sender::new(Busy {
            in_flight: 0,
            idle_since: Some(Instant::now()),
        })))
    }

    /// A request has arrived: the connection is busy until the guard (and so the answer's body,
    /// see [`InFlight::until_sent`]) is dropped.
    fn start(&self) -> InFlight {
        self.0.send_modify(|busy| {
            busy.in_flight += 1;
            busy.idle_since = None;
        });
        InFlight(self.clone())
    }

    /// Resolves once the connection has had nothing in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        self.idle_after(limit, None).await
    }

    /// Like [`Activity::idle_for`], counting idle time from now at the earliest.
    async fn idle_for_from_now(&self, limit: Duration) {
        self.idle_after(limit, Some(Instant::now())).await
    }

    async fn idle_after(&self, limit: Duration, not_before: Option<Instant>) {
        let mut changes = self.0.subscribe();
        loop {
            let busy = *changes.borrow_and_update();
            match busy.idle_since {
                // The sender lives as long as `self`: `changed` cannot fail here.
                None => {
                    let _ = changes.changed().await;
                }
                Some(since) => {
                    let since = not_before.map_or(since, |floor| since.max(floor));
                    tokio::select! {
                        () = tokio::time::sleep_until((since + limit).into()) => return,
                        _ = changes.changed() => {}
                    }
                }
            }
        }
    }
}

/// A request in flight on its connection.
struct InFlight(Activity);

impl InFlight {
    /// Keeps the connection busy until `response`'s body has been sent (or dropped): a long
    /// answer is never cut as idle.
    fn until_sent(self, response: Response) -> Response {
        response.map(|body| {
            Body::new(body.map_frame(move |frame| {
                let _ = &self;
                frame
            }))
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.0.send_modify(|busy| {
            busy.in_flight = busy.in_flight.saturating_sub(1);
            if busy.in_flight == 0 {
                busy.idle_since = Some(Instant::now());
            }
        });
    }
}

async fn forward(upstream: Upstream, peer: SocketAddr, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Kept whole, so a request the router never received can be sent again.
    let read = tokio::time::timeout(
        upstream.body_read_timeout,
        axum::body::to_bytes(body, upstream.max_body),
    );
    let body: Bytes = match read.await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        }
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                "the request body took too long to arrive",
            )
                .into_response();
        }
    };
    let passthrough = upstream.passthrough.get(parts.uri.path());
    let mut headers = parts.headers;
    let chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = upstream.trusted_proxies.client(peer.ip(), &chain);
    if passthrough.is_some() {
        let verdict = upstream
            .rate_limits
            .take(
                &rate_limit::key("passthrough:address", &[&client.to_string()]),
                1,
                upstream.passthrough_budget,
            )
            .await;
        if !verdict.allowed {
            let seconds = verdict.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut refused = (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests from your address; try again in {seconds} seconds"),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                refused
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
            return refused;
        }
    }
    let forwarded = if chain.is_empty() {
        peer.ip().to_string()
    } else {
        format!("{}, {}", chain.join(", "), peer.ip())
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    // Always ours: whatever a client sent under this name is replaced (or removed, if the
    // keys cannot seal it: then subgraphs see "unknown").
    headers.remove(CLIENT_ADDRESS_HEADER);
    match client_address::seal(&upstream.keys, &client.to_string()) {
        Ok(sealed) => {
            if let Ok(value) = HeaderValue::from_str(&sealed) {
                headers.insert(HeaderName::from_static(CLIENT_ADDRESS_HEADER), value);
            }
        }
        Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot seal the client address"),
    }
    // Browsers (an `Origin`, or a CORS preflight) go through apollo-router's own port, whose
    // CORS layer (`cors` in router.yaml) answers preflights and labels answers.
    let from_a_browser =
        parts.method == http::Method::OPTIONS || headers.contains_key(http::header::ORIGIN);
    if passthrough.is_none()
        && !from_a_browser
        && parts.uri.path() == GRAPHQL_PATH
        && let Some(pipeline) = upstream.pipeline.current()
    {
        return in_process(pipeline, parts.method, parts.uri, headers, body).await;
    }
    let uri = match passthrough {
        Some(uri) => match parts.uri.query() {
            Some(query) => match format!("{uri}?{query}").parse::<Uri>() {
                Ok(uri) => uri,
                Err(_) => return (StatusCode::BAD_REQUEST, "bad request query").into_response(),
            },
            None => uri.clone(),
        },
        None => {
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            match format!("http://{}{path}", upstream.router).parse::<Uri>() {
                Ok(uri) => uri,
                Err(_) => return (StatusCode::BAD_REQUEST, "bad request path").into_response(),
            }
        }
    };
    for hop in [
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
    ] {
        headers.remove(hop);
    }
    let started = Instant::now();
    loop {
        let mut outgoing = http::Request::new(Full::new(body.clone()));
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = uri.clone();
        *outgoing.headers_mut() = headers.clone();
        match upstream.client.request(outgoing).await {
            Ok(response) => {
                let (mut parts, incoming) = response.into_parts();
                for hop in ["connection", "keep-alive", "transfer-encoding"] {
                    parts.headers.remove(hop);
                }
                return Response::from_parts(parts, Body::new(incoming));
            }
            // Refused, or closed unanswered: the router is restarting and processed nothing.
            Err(e) if not_received(&e) && started.elapsed() < upstream.restart_wait => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "the router did not answer");
                return (StatusCode::BAD_GATEWAY, "the router did not answer").into_response();
            }
        }
    }
}

/// Compression for clients that ask for it, fast, and only where it pays: answers of a kilobyte
/// or more (most GraphQL answers are smaller, and compressing them costs more than it saves).
fn compression() -> tower_http::compression::CompressionLayer<impl Predicate> {
    tower_http::compression::CompressionLayer::new()
        .quality(CompressionLevel::Fastest)
        .compress_when(
            SizeAbove::new(1024)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE),
        )
}

/// `request` through the router pipeline in this process.
async fn in_process(
    pipeline: router::BoxCloneService,
    method: http::Method,
    uri: Uri,
    mut headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    for hop in ["connection", "keep-alive", "transfer-encoding"] {
        headers.remove(hop);
    }
    // The body is whole: its length is known even when the client sent it in chunks, and
    // `nexus.limits` judges it by this header.
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut request = http::Request::new(router::body::from_bytes(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    let request = router::Request::from((request, apollo_router::Context::new()));
    // Its own task: a client that disconnects does not cancel a mutation halfway through.
    match tokio::spawn(pipeline.oneshot(request)).await {
        Ok(Ok(answer)) => {
            let (parts, body) = answer.response.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the router pipeline failed");
            internal_error()
        }
        Err(e) => {
            tracing::error!(error = %e, "the router pipeline's task failed");
            internal_error()
        }
    }
}

fn internal_error() -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL_SERVER_ERROR" } }]
    });
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The router never processed the request: the connection was refused, or closed before any
/// answer began.
fn not_received(error: &hyper_util::client::legacy::Error) -> bool {
    if error.is_connect() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            return hyper.is_incomplete_message() || hyper.is_canceled();
        }
        source = e.source();
    }
    false
}
