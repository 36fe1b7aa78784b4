//! Sessions: a short-lived signed access token and a rotating refresh token. A refresh token works
//! once; presenting a used one means it was stolen or replayed, so its whole family is revoked.

use chrono::{DateTime, Utc};
use nexus_kit::error::{Code, Result, internal};
use nexus_kit::id::new_id;
use nexus_kit::token::{TokenType, new_claims};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::config::AuthConfig;
use crate::entity::{membership, organization, refresh_token, user};
use crate::memberships::closed_to;

/// Where a session was signed in: the device (`User-Agent`) and the client's address.
#[derive(Clone, Debug, Default)]
pub struct Device {
    pub user_agent: Option<String>,
    pub address: Option<String>,
}

pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: user::Model,
    pub organization_id: Option<Uuid>,
}

pub use nexus_kit::secrets::{random_secret, sha256_hex};

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

/// The refusal for a session without a second factor acting where one is required.
pub fn two_factor_required(organization: &str) -> nexus_kit::Error {
    Code::TwoFactorRequired.error(format!(
        "{organization} requires two-factor sign-in: turn it on (enrollTwoFactor, confirmTwoFactor) and sign in again with a code"
    ))
}

/// Issues a session acting in `organization` (default: the user's oldest membership where this
/// session may act, if any). `family` continues a refresh-token family; `None` starts one.
/// `two_factor`: signed in with a second factor (kept by every refresh of the family).
pub async fn issue(
    db: &impl ConnectionTrait,
    config: &AuthConfig,
    user: user::Model,
    organization: Option<Uuid>,
    family: Option<Uuid>,
    device: &Device,
    two_factor: bool,
) -> Result<Session> {
    let family = family.unwrap_or_else(new_id);
    let (organization_id, role) = match organization {
        Some(org) => (
            Some(org),
            Some(role_in_requested(db, user.id, org, two_factor).await?),
        ),
        None => default_acting_in(db, user.id, two_factor).await?,
    };
    let (access_token, expires_at) =
        sign_access_token(config, &user, organization_id, role, family, two_factor)?;
    let refresh_token = store_refresh_token(
        db,
        config,
        user.id,
        family,
        organization_id,
        device,
        two_factor,
    )
    .await?;
    Ok(Session {
        access_token,
        refresh_token,
        expires_at,
        user,
        organization_id,
    })
}

/// The user's role in the organization the session asked to act in, if it may act there.
async fn role_in_requested(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    org: Uuid,
    two_factor: bool,
) -> Result<membership::Role> {
    let role = role_in(db, user_id, org)
        .await?
        .ok_or_else(|| Code::Forbidden.error("you are not a member of that organization"))?;
    if !closed_to(db, vec![org], two_factor).await?.is_empty() {
        let name = organization::Entity::find_by_id(org)
            .one(db)
            .await
            .map_err(internal)?
            .map_or_else(|| "that organization".to_owned(), |o| o.name);
        return Err(two_factor_required(&name));
    }
    Ok(role)
}

/// The user's oldest membership where this session may act (organization and role), if any.
async fn default_acting_in(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    two_factor: bool,
) -> Result<(Option<Uuid>, Option<membership::Role>)> {
    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await
        .map_err(internal)?;
    let closed = closed_to(
        db,
        memberships.iter().map(|m| m.organization_id).collect(),
        two_factor,
    )
    .await?;
    Ok(memberships
        .into_iter()
        .find(|m| !closed.contains(&m.organization_id))
        .map_or((None, None), |m| (Some(m.organization_id), Some(m.role))))
}

/// The session's signed access token, and when it expires.
fn sign_access_token(
    config: &AuthConfig,
    user: &user::Model,
    organization_id: Option<Uuid>,
    role: Option<membership::Role>,
    family: Uuid,
    two_factor: bool,
) -> Result<(String, DateTime<Utc>)> {
    let mut claims = new_claims(
        config.keys.issuer(),
        user.id.to_string(),
        TokenType::Access,
        config.access_ttl,
    );
    claims.org = organization_id.map(|o| o.to_string());
    claims.role = role.map(|r| membership::role_name(r).to_owned());
    claims.adm = user.is_platform_admin;
    claims.sid = Some(family.to_string());
    claims.set_sign_in(two_factor);
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    let access_token = config.keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a token");
        Code::Internal.error("cannot sign a token; it has been logged")
    })?;
    Ok((access_token, expires_at))
}

/// A new refresh token of `family`, stored (hashed) with the device it is issued to.
async fn store_refresh_token(
    db: &impl ConnectionTrait,
    config: &AuthConfig,
    user_id: Uuid,
    family: Uuid,
    organization_id: Option<Uuid>,
    device: &Device,
    two_factor: bool,
) -> Result<String> {
    let refresh_token = random_secret();
    let now = Utc::now();
    refresh_token::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        family_id: Set(family),
        organization_id: Set(organization_id),
        token_hash: Set(sha256_hex(&refresh_token)),
        expires_at: Set(now + chrono::Duration::from_std(config.refresh_ttl).unwrap_or_default()),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
        user_agent: Set(device.user_agent.clone()),
        address: Set(device.address.clone()),
        two_factor: Set(two_factor),
    }
    .insert(db)
    .await
    .map_err(internal)?;
    Ok(refresh_token)
}

/// Trades a refresh token for a new session; the old token dies. Reuse revokes the family, and
/// is recorded as `reuse` says (`session.revoked`).
pub async fn refresh(
    db: &DatabaseConnection,
    config: &AuthConfig,
    token: &str,
    reuse: nexus_kit::audit::Entry,
) -> Result<Session> {
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
    // The user's row first: a password change, reset or session revocation running now finishes
    // before this refresh, or waits for it — never misses the token it issues.
    crate::users::lock_user(&txn, stored.user_id).await?;
    if !claim(&txn, &stored, now).await? {
        txn.rollback().await.map_err(internal)?;
        revoke_reused(db, &stored, reuse).await?;
        return Err(Code::Unauthenticated.error(
            "this refresh token was already used: every session of that login has been revoked, log in again",
        ));
    }
    let user = user::Entity::find_by_id(stored.user_id)
        .one(&txn)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_refresh)?;
    let organization = still_acting_in(&txn, &stored, user.id).await?;
    let device = Device {
        user_agent: stored.user_agent.clone(),
        address: stored.address.clone(),
    };
    let session = issue(
        &txn,
        config,
        user,
        organization,
        Some(stored.family_id),
        &device,
        stored.two_factor,
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(session)
}

/// Marks `stored` used in `txn`; `false` when it already was (or was revoked).
async fn claim(
    txn: &DatabaseTransaction,
    stored: &refresh_token::Model,
    now: DateTime<Utc>,
) -> Result<bool> {
    // Only one caller can flip `used_at`; a second presentation of the same token finds it set.
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(stored.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await
        .map_err(internal)?;
    Ok(claimed.rows_affected == 1)
}

/// Revokes the family of a refresh token presented twice, and records it as `reuse` says.
async fn revoke_reused(
    db: &DatabaseConnection,
    stored: &refresh_token::Model,
    reuse: nexus_kit::audit::Entry,
) -> Result<()> {
    let txn = db.begin().await.map_err(internal)?;
    revoke_family(&txn, stored.family_id).await?;
    let entry = reuse
        .target("session", stored.family_id)
        .details(serde_json::json!({
            "user_id": stored.user_id,
            "reason": "a refresh token was used twice",
        }));
    nexus_kit::audit::record(&txn, entry).await?;
    txn.commit().await.map_err(internal)?;
    tracing::warn!(user = %stored.user_id, family = %stored.family_id, "refresh token reused; family revoked");
    Ok(())
}

/// The organization the refreshed session keeps acting in, or `None` for the user's default.
async fn still_acting_in(
    txn: &DatabaseTransaction,
    stored: &refresh_token::Model,
    user_id: Uuid,
) -> Result<Option<Uuid>> {
    // The organization may have dropped the user, or begun to require a second factor this
    // session lacks: fall back to their default.
    Ok(match stored.organization_id {
        Some(org)
            if role_in(txn, user_id, org).await?.is_some()
                && closed_to(txn, vec![org], stored.two_factor)
                    .await?
                    .is_empty() =>
        {
            Some(org)
        }
        _ => None,
    })
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

/// The user's sessions still signed in: the newest refresh token of each family that is neither
/// used, revoked nor expired (one per session), oldest first from `after`.
pub async fn live(
    db: &DatabaseConnection,
    user_id: Uuid,
    args: &nexus_kit::page::PageArgs,
) -> Result<nexus_kit::page::Page<refresh_token::Model>> {
    let select = refresh_token::Entity::find()
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(Utc::now()));
    nexus_kit::page::fetch_page(db, select, refresh_token::Column::Id, args)
        .await
        .map_err(internal)
}

/// When each family began (its first refresh token).
pub async fn started(
    db: &DatabaseConnection,
    families: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, DateTime<Utc>>> {
    let rows: Vec<(Uuid, DateTime<Utc>)> = refresh_token::Entity::find()
        .select_only()
        .column(refresh_token::Column::FamilyId)
        .column_as(refresh_token::Column::CreatedAt.min(), "started")
        .filter(refresh_token::Column::FamilyId.is_in(families))
        .group_by(refresh_token::Column::FamilyId)
        .into_tuple()
        .all(db)
        .await
        .map_err(internal)?;
    Ok(rows.into_iter().collect())
}

/// Ends one session of the user; `false` when they have no such session.
pub async fn revoke(
    db: &DatabaseConnection,
    user_id: Uuid,
    family_id: Uuid,
    audit: nexus_kit::audit::Entry,
) -> Result<bool> {
    let txn = db.begin().await.map_err(internal)?;
    crate::users::lock_user(&txn, user_id).await?;
    let ended = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await
        .map_err(internal)?;
    if ended.rows_affected > 0 {
        nexus_kit::audit::record(&txn, audit).await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(ended.rows_affected > 0)
}

/// Ends what the account signed in to outside identity: the session epoch goes up, so the OAuth
/// pages' browser sessions signed in before stop working, and `user.sessions_ended` tells the
/// apps service to revoke the OAuth grants made from them. Returns the new epoch.
pub async fn end_elsewhere(db: &impl ConnectionTrait, user_id: Uuid) -> Result<i64> {
    user::Entity::update_many()
        .col_expr(
            user::Column::SessionEpoch,
            Expr::col(user::Column::SessionEpoch).add(1),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await
        .map_err(internal)?;
    let epoch = user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .map_err(internal)?
        .map_or(0, |u| u.session_epoch);
    nexus_kit::outbox::emit(
        db,
        crate::name::NAME,
        nexus_kit::outbox::Event::new(
            nexus_kit::events::USER_SESSIONS_ENDED,
            serde_json::json!({ "user_id": user_id, "session_epoch": epoch }),
        ),
    )
    .await?;
    Ok(epoch)
}

/// Ends every session of the user but `keep` (the one changing the password).
pub async fn revoke_all_but(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<()> {
    let mut update = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(refresh_token::Column::FamilyId.ne(keep));
    }
    update.exec(db).await.map_err(internal)?;
    Ok(())
}
