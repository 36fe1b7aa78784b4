//! How a subgraph is served over HTTP: `POST /graphql` (the router's fetches) and `GET /health`.

use std::future::Future;

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::Executor;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::idle::{IdleGate, track_idle};

/// What a subgraph may use to prepare one request.
pub struct RequestScope<'a> {
    pub headers: &'a HeaderMap,
    /// Closes this request's DataLoader batches (see `idle`).
    pub gate: &'a Arc<IdleGate>,
}

/// Adds per-request data (DataLoaders, the caller's verified identity) to a request.
pub type PrepareRequest =
    Arc<dyn Fn(async_graphql::Request, RequestScope<'_>) -> async_graphql::Request + Send + Sync>;

struct Served<E> {
    name: &'static str,
    executor: E,
    prepare: PrepareRequest,
}

pub fn http_router<E: Executor>(
    name: &'static str,
    executor: E,
    prepare: PrepareRequest,
) -> Router {
    let state = Arc::new(Served {
        name,
        executor,
        prepare,
    });
    Router::new()
        .route("/graphql", post(graphql::<E>))
        .route("/health", get(health::<E>))
        .with_state(state)
}

async fn graphql<E: Executor>(
    State(served): State<Arc<Served<E>>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let gate = Arc::new(IdleGate::default());
    let scope = RequestScope {
        headers: &headers,
        gate: &gate,
    };
    let request = (served.prepare)(request.into_inner(), scope);
    track_idle(gate.clone(), served.executor.execute(request))
        .await
        .into()
}

async fn health<E: Executor>(State(served): State<Arc<Served<E>>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "UP", "subgraph": served.name }))
}

/// Binds `addr`, with an error that names the address (a taken port is a one-line message).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Serves `router` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
