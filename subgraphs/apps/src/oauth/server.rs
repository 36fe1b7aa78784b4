//! What the OAuth endpoints share: their state (`OAuthServer`) and the shape of their answers
//! (RFC 6749 §5: JSON, never cached; errors as §5.2 has them).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nexus_kit::accounts::Accounts;
use nexus_kit::authority::Memberships;
use nexus_kit::core_client::CoreClient;
use nexus_kit::token::KeyStore;
use sea_orm::DatabaseConnection;

/// What the OAuth endpoints share.
#[derive(Clone)]
pub struct OAuthServer {
    pub db: DatabaseConnection,
    pub keys: Arc<KeyStore>,
    /// identity: passwords and accounts.
    pub accounts: Accounts,
    /// identity: a user's role now (tokens are issued only to members).
    pub memberships: Arc<Memberships>,
    /// licensing: whether an organization may install a paid app.
    pub licensing: CoreClient,
    /// How long an installation token lives.
    pub installation_token_ttl: Duration,
    /// How long an access token acting for a user lives.
    pub access_token_ttl: Duration,
}

/// How long an access token acting for a user lives.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// An OAuth error answer (RFC 6749 §5.2), never cached.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    answer(
        status,
        serde_json::json!({ "error": error, "error_description": description }),
    )
}

/// Answers with tokens or about them carry `Cache-Control: no-store` (RFC 6749 §5.1).
pub fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

/// Logs what went wrong and answers the OAuth `server_error` without internals.
pub fn server_error(what: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "{what}");
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "it has been logged",
    )
}

/// `invalid_client` (401), with `WWW-Authenticate` when the client tried HTTP Basic.
pub fn invalid_client(basic: bool) -> Response {
    let mut reply = oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "unknown client or wrong secret",
    );
    if basic {
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"nexus\""),
        );
    }
    reply
}
