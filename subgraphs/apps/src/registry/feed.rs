//! The apps service's side of the registry's feed (`nexus_protocol::internal::supergraph`),
//! `GET /supergraph`: the head supergraph version for routers in other processes
//! (`nexus serve router`), which call it with a service token (the SDL names every app's
//! internal URL, so nobody else reads it). Conditional and long-polling: a router sends the `ETag` it serves as
//! `If-None-Match` with `?wait=SECONDS` and the answer comes when the head changes (200 with the
//! new SDL) or when the wait is over (304) — no busy polling, and a new head reaches every
//! router at once.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use std::sync::Arc;

use nexus_kit::auth::Caller;
use nexus_kit::internal::supergraph::FeedQuery;
use nexus_kit::token::KeyStore;
use nexus_registry::Registry;

use nexus_kit::internal::supergraph::{MAX_WAIT, VERSION_HEADER};
/// Another replica of this service may publish: the database is looked at this often while a
/// request waits (publishes in this process wake it at once).
const RECHECK_EVERY: Duration = Duration::from_secs(1);

pub async fn head(
    State((db, registry, keys)): State<(DatabaseConnection, Arc<Registry>, Arc<KeyStore>)>,
    Query(params): Query<FeedQuery>,
    headers: HeaderMap,
) -> Response {
    match Caller::from_headers(&headers, &keys) {
        Ok(caller) if caller.is_service() => {}
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                "the supergraph feed needs a Nexus service token",
            )
                .into_response();
        }
    }
    let known = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(params.wait).min(MAX_WAIT);
    let mut published = registry.subscribe();
    let mut closing = registry.closing();
    loop {
        let head = match crate::registry::live_set::head(&db).await {
            Ok(Some(head)) => head,
            Ok(None) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no supergraph has been published yet",
                )
                    .into_response();
            }
            Err(e) => {
                tracing::error!(error = %e.message, "reading the head supergraph version");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot read the registry",
                )
                    .into_response();
            }
        };
        let etag = format!("\"{}\"", head.sha256);
        let unchanged = known.as_deref() == Some(etag.as_str());
        let now = tokio::time::Instant::now();
        // A shutting-down service answers now; the router asks again (another replica).
        if *closing.borrow() {
            deadline = now;
        }
        if !unchanged || now >= deadline {
            let mut response = if unchanged {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                (
                    [(header::CONTENT_TYPE, "application/graphql; charset=utf-8")],
                    head.sdl,
                )
                    .into_response()
            };
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&etag) {
                headers.insert(header::ETAG, value);
            }
            if let Ok(value) = HeaderValue::from_str(&head.id.to_string()) {
                headers.insert(VERSION_HEADER, value);
            }
            return response;
        }
        let next_check = (now + RECHECK_EVERY).min(deadline);
        tokio::select! {
            _ = published.changed() => {}
            _ = closing.changed() => {}
            _ = tokio::time::sleep_until(next_check) => {}
        }
    }
}
