//! Installation tokens: an app acting for one organization that installed it. The app proves
//! itself with its client credentials (`client_id` = the app id, a secret shown once and
//! rotatable) and names the installation; the token carries that organization and the scopes it
//! granted, and the core enforces them (`User.email` needs `users:read`, …).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use nexus_kit::error::{Result, internal};
use nexus_kit::token::{KeyStore, TokenType, new_claims};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entity::app::{self, AppStatus};
use crate::entity::app_credential;
use crate::entity::installation::{self, InstallationStatus};

pub const TOKEN_PATH: &str = "/oauth/token";
/// The default lifetime of an installation token (`[tokens] installation_ttl_seconds`).
pub const INSTALLATION_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// What the token endpoint needs.
#[derive(Clone)]
pub struct TokenEndpoint {
    pub db: DatabaseConnection,
    pub keys: Arc<KeyStore>,
    /// How long an installation token lives.
    pub ttl: Duration,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new client secret for the app (the old one stops working); returned once.
pub async fn rotate_secret(db: &DatabaseConnection, app_id: Uuid) -> Result<String> {
    let secret = format!("nxs_{}", URL_SAFE_NO_PAD.encode(rand_bytes()));
    app_credential::Entity::insert(app_credential::ActiveModel {
        app_id: Set(app_id),
        secret_hash: Set(hash(&secret)),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(app_credential::Column::AppId)
            .update_columns([
                app_credential::Column::SecretHash,
                app_credential::Column::CreatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await
    .map_err(internal)?;
    Ok(secret)
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(16) {
        chunk.copy_from_slice(Uuid::new_v4().as_bytes());
    }
    bytes
}

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
    installation_id: String,
}

type Reply = (StatusCode, Json<serde_json::Value>);

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
    (
        status,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
}

/// `POST /oauth/token` (JSON body): `grant_type=client_credentials`, `client_id`,
/// `client_secret`, `installation_id`. Errors follow OAuth 2.0 (`invalid_client`, …).
pub async fn token(
    State(TokenEndpoint { db, keys, ttl }): State<TokenEndpoint>,
    Json(request): Json<TokenRequest>,
) -> Reply {
    if request.grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    let invalid_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        )
    };
    let Ok(app_id) = Uuid::parse_str(&request.client_id) else {
        return invalid_client();
    };
    let stored = match app_credential::Entity::find_by_id(app_id).one(&db).await {
        Ok(stored) => stored,
        Err(e) => return server_error("database error", e),
    };
    if stored.is_none_or(|c| c.secret_hash != hash(&request.client_secret)) {
        return invalid_client();
    }
    // Credentials follow the app: a suspended (or unpublished) app gets no new token.
    match app::Entity::find_by_id(app_id).one(&db).await {
        Ok(Some(app)) if app.status == AppStatus::Published => {}
        Ok(Some(app)) if app.status == AppStatus::Suspended => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "the app is suspended: it gets no tokens until the platform reinstates it",
            );
        }
        Ok(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "the app is not published",
            );
        }
        Err(e) => return server_error("database error", e),
    }
    let invalid_grant = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "no active installation of this app with that id",
        )
    };
    let Ok(installation_id) = Uuid::parse_str(&request.installation_id) else {
        return invalid_grant();
    };
    let installation = match installation::Entity::find_by_id(installation_id)
        .one(&db)
        .await
    {
        Ok(Some(i)) if i.app_id == app_id && i.status == InstallationStatus::Active => i,
        Ok(_) => return invalid_grant(),
        Err(e) => return server_error("database error", e),
    };
    let scopes = installation.scopes();
    match sign(&keys, &installation, ttl) {
        Ok(token) => (
            StatusCode::OK,
            Json(serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl.as_secs(),
                "scope": scopes.join(" "),
            })),
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

/// Logs what went wrong and answers the OAuth `server_error` without internals.
fn server_error(what: &str, error: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %error, "{what}");
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "it has been logged",
    )
}
