//! The OAuth 2.1 authorization server and OpenID Provider, served by the apps service (it owns
//! the clients — apps — and the installations a consent creates) on the public port
//! (`nexus_protocol::oauth` names the paths; the router publishes the metadata):
//!
//! - `authorize`: `GET /oauth/authorize` (PKCE S256 required), the login and consent pages and
//!   their forms (`pages` renders them, `browser` keeps the signed-in browser and its CSRF token);
//! - `token_endpoint`: `POST /oauth/token`: `authorization_code`, `refresh_token`,
//!   `client_credentials` (`client_credentials`) and RFC 8693 token exchange;
//! - `grants`: codes, grants and rotating refresh tokens, and the authorizations users consented
//!   to (listed and revoked through GraphQL);
//! - `tokens`: the access tokens (`Delegated`) and id_tokens signed for a grant;
//! - `userinfo`, `revocation` (RFC 7009 revocation, RFC 7662 introspection).
//!
//! Passwords are checked by identity (`nexus_kit::accounts`), under its login limits.

pub mod authorize;
pub mod browser;
pub mod client;
pub mod client_credentials;
pub mod grants;
pub mod pages;
pub mod retention;
pub mod revocation;
pub mod token_endpoint;
pub mod token_request;
pub mod tokens;
pub mod userinfo;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nexus_kit::accounts::Accounts;
use nexus_kit::authority::Memberships;
use nexus_kit::core_client::CoreClient;
use nexus_kit::token::KeyStore;
use nexus_protocol::oauth as paths;
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

pub fn routes(server: OAuthServer) -> axum::Router {
    axum::Router::new()
        .route(paths::AUTHORIZE_PATH, get(authorize::authorize))
        .route(paths::LOGIN_PATH, post(authorize::log_in))
        .route(paths::CONSENT_PATH, post(authorize::consent))
        .route(paths::TOKEN_PATH, post(token_endpoint::token))
        .route(
            paths::USERINFO_PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(paths::REVOKE_PATH, post(revocation::revoke))
        .route(paths::INTROSPECT_PATH, post(revocation::introspect))
        .with_state(server)
}

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

pub use nexus_kit::secrets::{random_secret, sha256_hex};
