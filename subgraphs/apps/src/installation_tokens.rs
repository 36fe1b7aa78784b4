//! Installation tokens: an app acting for one organization that installed it. The app proves
//! itself with its client credentials (`client_id` = the app id, a secret shown once and
//! rotatable) and names the installation; the token carries that organization and the scopes it
//! granted, and the core enforces them (`User.email` needs `users:read`, …).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use nexus_kit::error::{Result, internal};
use nexus_kit::token::{KeyStore, TokenType, new_claims};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entity::app::{self, AppStatus};
use crate::entity::app_credential;
use crate::entity::installation::{self, InstallationStatus};
use crate::token_request::{Malformed, TokenRequest};

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

/// An OAuth error answer (RFC 6749 §5.2), never cached.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    answer(
        status,
        serde_json::json!({ "error": error, "error_description": description }),
    )
}

/// Token endpoint answers carry `Cache-Control: no-store` (RFC 6749 §5.1).
fn answer(status: StatusCode, body: serde_json::Value) -> Response {
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

/// `POST /oauth/token` (RFC 6749): `grant_type=client_credentials` and `installation_id`, the
/// app authenticated with HTTP Basic (`client_secret_basic`) or `client_id` and `client_secret`
/// in the body (`client_secret_post`); form-encoded (or, as before, a JSON object). Errors as
/// §5.2 has them (`invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
/// `unsupported_grant_type`).
pub async fn token(
    State(TokenEndpoint { db, keys, ttl }): State<TokenEndpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match TokenRequest::parse(&headers, &body) {
        Ok(request) => request,
        Err(Malformed(why)) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &why);
        }
    };
    let basic = request.basic;
    let invalid_client = || {
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
    };
    // The client is authenticated before anything about the grant is said.
    let Some((client_id, client_secret)) = request.client else {
        return invalid_client();
    };
    let Ok(app_id) = Uuid::parse_str(&client_id) else {
        return invalid_client();
    };
    let stored = match app_credential::Entity::find_by_id(app_id).one(&db).await {
        Ok(stored) => stored,
        Err(e) => return server_error("database error", e),
    };
    if stored.is_none_or(|c| c.secret_hash != hash(&client_secret)) {
        return invalid_client();
    }
    if request.grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
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
    let Some(installation_id) = request.params.get("installation_id") else {
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
        .one(&db)
        .await
    {
        Ok(Some(i)) if i.app_id == app_id && i.status == InstallationStatus::Active => i,
        Ok(_) => return invalid_grant(),
        Err(e) => return server_error("database error", e),
    };
    let scopes = installation.scopes();
    match sign(&keys, &installation, ttl) {
        Ok(token) => answer(
            StatusCode::OK,
            serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl.as_secs(),
                "scope": scopes.join(" "),
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

/// Logs what went wrong and answers the OAuth `server_error` without internals.
fn server_error(what: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "{what}");
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "it has been logged",
    )
}
