//! How a subgraph is served over HTTP: `POST /graphql` (the router's fetches) and `GET /health`.

use std::future::Future;

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::Executor;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::auth::{Caller, unauthenticated};
use crate::authority::Memberships;
use crate::idle::{IdleGate, track_idle};
use nexus_protocol::token::KeyStore;

/// What a subgraph may use to prepare one request.
pub struct RequestScope<'a> {
    pub headers: &'a HeaderMap,
    /// Already verified: the request is refused before this if the token is bad.
    pub caller: &'a Caller,
    /// Closes this request's DataLoader batches (see `idle`).
    pub gate: &'a Arc<IdleGate>,
    /// The client's address (`client_address`).
    pub address: &'a str,
}

impl RequestScope<'_> {
    /// The client's address as the router resolved it (`nexus_protocol::client_address`: the
    /// peer, or what a trusted proxy says), or "unknown" for a call that did not come through
    /// the router.
    pub fn client_address(&self) -> String {
        self.address.to_owned()
    }

    /// The client's `User-Agent` as the router passed it on (at most 256 characters), if any.
    pub fn user_agent(&self) -> Option<String> {
        self.headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().chars().take(256).collect())
            .filter(|v: &String| !v.is_empty())
    }
}

/// The client's address the router (or the public port) resolved and sealed into `headers`, or
/// "unknown" for a call that did not come through it: a value anyone else wrote (someone who
/// reaches this port directly, say) is not believed.
pub fn client_address(headers: &HeaderMap, keys: &KeyStore) -> String {
    headers
        .get(nexus_protocol::client_address::CLIENT_ADDRESS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| nexus_protocol::client_address::open(keys, v))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Adds per-request data (DataLoaders, the caller's verified identity) to a request.
pub type PrepareRequest =
    Arc<dyn Fn(async_graphql::Request, RequestScope<'_>) -> async_graphql::Request + Send + Sync>;

struct Served<E> {
    name: &'static str,
    executor: E,
    prepare: PrepareRequest,
    keys: Arc<KeyStore>,
    authority: Option<Arc<Memberships>>,
}

/// `authority`: where a user token's organization and role are checked as they are now (the
/// apps and licensing services ask identity; identity reads its own tables instead).
pub fn http_router<E: Executor>(
    name: &'static str,
    executor: E,
    keys: Arc<KeyStore>,
    prepare: PrepareRequest,
    authority: Option<Arc<Memberships>>,
) -> Router {
    let state = Arc::new(Served {
        name,
        executor,
        prepare,
        keys,
        authority,
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
) -> Response {
    let caller = match Caller::from_headers(&headers, &served.keys) {
        Ok(caller) => caller,
        Err(e) => {
            let body = async_graphql::Response::from_errors(vec![
                unauthenticated(&e).into_server_error(Default::default()),
            ]);
            return (StatusCode::UNAUTHORIZED, GraphQLResponse::from(body)).into_response();
        }
    };
    let caller = match (&served.authority, caller.membership_claimed()) {
        (Some(memberships), Some((user, organization))) => {
            match memberships.role(user, organization).await {
                Ok(answer)
                    if answer.two_factor_required
                        && answer.role.is_some()
                        && !caller.principal().is_some_and(|p| p.claims.two_factor()) =>
                {
                    let body = async_graphql::Response::from_errors(vec![
                        crate::error::Code::TwoFactorRequired
                            .error("the organization this token acts in requires two-factor sign-in: sign in again with a second factor")
                            .into_server_error(Default::default()),
                    ]);
                    return (StatusCode::FORBIDDEN, GraphQLResponse::from(body)).into_response();
                }
                Ok(answer) => caller.with_current_role(answer.role),
                Err(e) => {
                    let body = async_graphql::Response::from_errors(vec![
                        e.into_server_error(Default::default()),
                    ]);
                    return (StatusCode::SERVICE_UNAVAILABLE, GraphQLResponse::from(body))
                        .into_response();
                }
            }
        }
        _ => caller,
    };
    let gate = Arc::new(IdleGate::default());
    let address = client_address(&headers, &served.keys);
    let scope = RequestScope {
        headers: &headers,
        caller: &caller,
        gate: &gate,
        address: &address,
    };
    let request = (served.prepare)(request.into_inner(), scope)
        .data(crate::audit::Origin(address.clone()))
        .data(caller.clone());
    GraphQLResponse::from(track_idle(gate.clone(), served.executor.execute(request)).await)
        .into_response()
}

/// For internal endpoints (`/internal/…`) only Nexus's own services may call: `Some(401)`
/// unless the request carries a service token. `what` names the endpoint in the refusal.
pub fn refuse_unless_service(headers: &HeaderMap, keys: &KeyStore, what: &str) -> Option<Response> {
    if Caller::from_headers(headers, keys).is_ok_and(|c| c.is_service()) {
        None
    } else {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                format!("the {what} needs a Nexus service token"),
            )
                .into_response(),
        )
    }
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
