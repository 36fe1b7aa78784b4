//! API keys for server-to-server calls: created by an organization's owners and admins, shown once,
//! stored as a SHA-256 hash. The router exchanges a key for a short-lived token (and caches the
//! answer for at most 5 seconds, which bounds how long a revoked key keeps working).

use std::time::Duration;

use chrono::{DateTime, Utc};
use nexus_kit::error::{Code, Result, bad_input, internal, not_found};
use nexus_kit::id::new_id;
use nexus_kit::scopes;
use nexus_kit::token::{TokenType, new_claims};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::config::AuthConfig;
use super::session::{random_secret, sha256_hex};
use crate::entity::api_key;

pub const PREFIX: &str = "nxk_";
/// Lifetime of the token a key is exchanged for.
pub const EXCHANGED_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);

pub struct NewApiKey {
    pub key: api_key::Model,
    /// The whole secret: shown once, never stored.
    pub secret: String,
}

pub async fn create(
    db: &DatabaseConnection,
    organization_id: Uuid,
    created_by: Uuid,
    name: &str,
    requested_scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    audit: nexus_kit::audit::Entry,
) -> Result<NewApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(bad_input("an API key name must be 1 to 100 characters"));
    }
    scopes::validate(&requested_scopes)?;
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(bad_input("`expiresAt` must be in the future"));
    }
    let secret = format!("{PREFIX}{}", random_secret());
    let txn = db.begin().await.map_err(internal)?;
    let key = api_key::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(organization_id),
        name: Set(name.to_owned()),
        prefix: Set(secret.chars().take(PREFIX.len() + 6).collect()),
        secret_hash: Set(sha256_hex(&secret)),
        scopes: Set(serde_json::json!(requested_scopes)),
        created_by: Set(created_by),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await
    .map_err(internal)?;
    nexus_kit::audit::record(
        &txn,
        audit
            .in_organization(organization_id)
            .target("api_key", key.id)
            .details(serde_json::json!({
                "name": key.name,
                "prefix": key.prefix,
                "scopes": key.scopes,
                "expires_at": key.expires_at,
            })),
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(NewApiKey { key, secret })
}

pub async fn revoke(
    db: &DatabaseConnection,
    organization_id: Uuid,
    id: Uuid,
    audit: nexus_kit::audit::Entry,
) -> Result<api_key::Model> {
    let key = api_key::Entity::find_by_id(id)
        .filter(api_key::Column::OrganizationId.eq(organization_id))
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no API key `{id}` in this organization")))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let txn = db.begin().await.map_err(internal)?;
    // Conditional: of two revocations at once, one is recorded.
    let now = Utc::now();
    let revoked = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
        .filter(api_key::Column::Id.eq(key.id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await
        .map_err(internal)?;
    if revoked.rows_affected == 1 {
        nexus_kit::audit::record(
            &txn,
            audit
                .in_organization(organization_id)
                .target("api_key", key.id)
                .details(serde_json::json!({ "name": key.name, "prefix": key.prefix })),
        )
        .await?;
    }
    txn.commit().await.map_err(internal)?;
    api_key::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no API key `{id}` in this organization")))
}

/// A valid key's short-lived token (`typ: api_key`, the key's organization and scopes).
pub async fn exchange(
    db: &DatabaseConnection,
    config: &AuthConfig,
    secret: &str,
) -> Result<String> {
    let refused = || Code::Unauthenticated.error("the API key is invalid, expired or revoked");
    if !secret.starts_with(PREFIX) {
        return Err(refused());
    }
    let key = api_key::Entity::find()
        .filter(api_key::Column::SecretHash.eq(sha256_hex(secret)))
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(refused)?;
    let now = Utc::now();
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
        return Err(refused());
    }
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(key.id))
        .exec(db)
        .await
        .map_err(internal)?;
    let mut ttl = EXCHANGED_TOKEN_TTL;
    if let Some(left) = key.expires_at.and_then(|at| (at - now).to_std().ok()) {
        ttl = ttl.min(left);
    }
    let mut claims = new_claims(
        config.keys.issuer(),
        key.id.to_string(),
        TokenType::ApiKey,
        ttl,
    );
    claims.org = Some(key.organization_id.to_string());
    claims.scopes = key.scopes();
    config.keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a token");
        Code::Internal.error("cannot sign a token; it has been logged")
    })
}
