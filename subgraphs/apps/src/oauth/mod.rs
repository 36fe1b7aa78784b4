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
pub mod server;
pub mod token_endpoint;
pub mod token_request;
pub mod tokens;
pub mod userinfo;

use axum::routing::{get, post};
use nexus_protocol::oauth as paths;

pub use server::{ACCESS_TOKEN_TTL, OAuthServer};

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
