//! identity's side of the API-key exchange (`nexus_protocol::internal::api_key`): the router
//! trades an `X-Api-Key` for a short-lived token of the key's user, or is told why not (401).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nexus_kit::internal::api_key::{Exchanged, HEADER, Refused};
use sea_orm::DatabaseConnection;

use crate::accounts::{self, AuthConfig};

pub async fn exchange(
    State((db, config)): State<(DatabaseConnection, AuthConfig)>,
    headers: HeaderMap,
) -> Response {
    let secret = headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match accounts::api_keys::exchange(&db, &config, secret.trim()).await {
        Ok(token) => Json(Exchanged {
            token,
            expires_in: accounts::api_keys::EXCHANGED_TOKEN_TTL.as_secs(),
        })
        .into_response(),
        Err(e) => (StatusCode::UNAUTHORIZED, Json(Refused { error: e.message })).into_response(),
    }
}
