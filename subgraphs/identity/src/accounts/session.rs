//! Sessions: a short-lived signed access token and a rotating refresh token. A refresh token works
//! once; presenting a used one means it was stolen or replayed, so its whole family is revoked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use nexus_kit::error::{Code, Result, internal};
use nexus_kit::id::new_id;
use nexus_kit::token::{TokenType, new_claims};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AuthConfig;
use crate::entity::{membership, refresh_token, user};

pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: user::Model,
    pub organization_id: Option<Uuid>,
}

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn invalid_refresh() -> nexus_kit::Error {
    Code::Unauthenticated.error("the refresh token is invalid or expired: log in again")
}

/// The membership role of `user` in `organization`, if any.
async fn role_in(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    organization_id: Uuid,
) -> Result<Option<membership::Role>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .one(db)
        .await
        .map_err(internal)?
        .map(|m| m.role))
}

/// Issues a session acting in `organization` (default: the user's oldest membership, if any).
/// `family` continues a refresh-token family; `None` starts one.
pub async fn issue(
    db: &impl ConnectionTrait,
    config: &AuthConfig,
    user: user::Model,
    organization: Option<Uuid>,
    family: Option<Uuid>,
) -> Result<Session> {
    let (organization_id, role) = match organization {
        Some(org) => {
            let role = role_in(db, user.id, org).await?.ok_or_else(|| {
                Code::Forbidden.error("you are not a member of that organization")
            })?;
            (Some(org), Some(role))
        }
        None => match membership::Entity::find()
            .filter(membership::Column::UserId.eq(user.id))
            .order_by_asc(membership::Column::Id)
            .one(db)
            .await
            .map_err(internal)?
        {
            Some(m) => (Some(m.organization_id), Some(m.role)),
            None => (None, None),
        },
    };
    let mut claims = new_claims(
        config.keys.issuer(),
        user.id.to_string(),
        TokenType::Access,
        config.access_ttl,
    );
    claims.org = organization_id.map(|o| o.to_string());
    claims.role = role.map(|r| role_name(r).to_owned());
    claims.adm = user.is_platform_admin;
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    let access_token = config.keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a token");
        Code::Internal.error("cannot sign a token; it has been logged")
    })?;
    let refresh_token = random_secret();
    let now = Utc::now();
    refresh_token::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user.id),
        family_id: Set(family.unwrap_or_else(new_id)),
        organization_id: Set(organization_id),
        token_hash: Set(sha256_hex(&refresh_token)),
        expires_at: Set(now + chrono::Duration::from_std(config.refresh_ttl).unwrap_or_default()),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(internal)?;
    Ok(Session {
        access_token,
        refresh_token,
        expires_at,
        user,
        organization_id,
    })
}

pub fn role_name(role: membership::Role) -> &'static str {
    match role {
        membership::Role::Owner => "owner",
        membership::Role::Admin => "admin",
        membership::Role::Member => "member",
    }
}

/// Trades a refresh token for a new session; the old token dies. Reuse revokes the family.
pub async fn refresh(db: &DatabaseConnection, config: &AuthConfig, token: &str) -> Result<Session> {
    let hash = sha256_hex(token);
    let stored = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash))
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_refresh)?;
    let now = Utc::now();
    if stored.revoked_at.is_some() || stored.expires_at <= now {
        return Err(invalid_refresh());
    }
    let txn = db.begin().await.map_err(internal)?;
    // Only one caller can flip `used_at`; a second presentation of the same token finds it set.
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(stored.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await
        .map_err(internal)?;
    if claimed.rows_affected != 1 {
        txn.rollback().await.map_err(internal)?;
        revoke_family(db, stored.family_id).await?;
        tracing::warn!(user = %stored.user_id, family = %stored.family_id, "refresh token reused; family revoked");
        return Err(Code::Unauthenticated.error(
            "this refresh token was already used: every session of that login has been revoked, log in again",
        ));
    }
    let user = user::Entity::find_by_id(stored.user_id)
        .one(&txn)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_refresh)?;
    // The organization may have dropped the user since: fall back to their default.
    let organization = match stored.organization_id {
        Some(org) if role_in(&txn, user.id, org).await?.is_some() => Some(org),
        _ => None,
    };
    let session = issue(&txn, config, user, organization, Some(stored.family_id)).await?;
    txn.commit().await.map_err(internal)?;
    Ok(session)
}

pub async fn revoke_family(db: &impl ConnectionTrait, family_id: Uuid) -> Result<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Ends the login the refresh token belongs to. Unknown tokens are ignored (logging out twice is
/// fine); access tokens already issued stay valid until they expire (15 minutes by default).
pub async fn log_out(db: &DatabaseConnection, token: &str) -> Result<()> {
    if let Some(stored) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(sha256_hex(token)))
        .one(db)
        .await
        .map_err(internal)?
    {
        revoke_family(db, stored.family_id).await?;
    }
    Ok(())
}
