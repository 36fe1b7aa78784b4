//! Installation tokens (`grant_type=client_credentials`): an app acting for one organization
//! that installed it. The app proves itself with its client credentials and names the
//! installation; the token carries that organization and the scopes it granted, and the core
//! enforces them (`User.email` needs `users:read`, …).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use nexus_kit::token::{KeyStore, TokenType, new_claims};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::server::{OAuthServer, answer, oauth_error, server_error};
use crate::entity::installation::{self, InstallationStatus};

/// The default lifetime of an installation token (`[tokens] installation_ttl_seconds`).
pub const INSTALLATION_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// A token for the app `app_id`'s installation named by `installation_id`.
pub async fn grant(
    server: &OAuthServer,
    app_id: Uuid,
    params: &BTreeMap<String, String>,
) -> Response {
    let invalid_grant = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "no active installation of this app with that id",
        )
    };
    let Some(installation_id) = params.get("installation_id") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "installation_id is missing: name the installation the token acts for",
        );
    };
    let Ok(installation_id) = Uuid::parse_str(installation_id) else {
        return invalid_grant();
    };
    let installation = match installation::Entity::find_by_id(installation_id)
        .one(&server.db)
        .await
    {
        Ok(Some(i)) if i.app_id == app_id && i.status == InstallationStatus::Active => i,
        Ok(_) => return invalid_grant(),
        Err(e) => return server_error("database error", e),
    };
    let ttl = server.installation_token_ttl;
    match sign(&server.keys, &installation, ttl) {
        Ok(token) => answer(
            StatusCode::OK,
            serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl.as_secs(),
                "scope": installation.scopes().join(" "),
            }),
        ),
        Err(e) => server_error("cannot sign a token", e),
    }
}

/// A token acting for `installation`'s app in its organization, with its granted scopes.
pub fn sign(
    keys: &KeyStore,
    installation: &installation::Model,
    ttl: std::time::Duration,
) -> anyhow::Result<String> {
    let mut claims = new_claims(
        keys.issuer(),
        installation.app_id.to_string(),
        TokenType::Installation,
        ttl,
    );
    claims.org = Some(installation.organization_id.to_string());
    claims.inst = Some(installation.id.to_string());
    claims.scopes = installation.scopes();
    keys.sign(&claims)
}
