//! Proving an address and recovering an account by mail: single-use tokens (stored as SHA-256),
//! 24 hours to verify an address, 1 hour to reset a password. A verification token names the
//! address it was sent to: verifying a new address is what switches the account to it. A reset
//! ends every session of the account, and proves the address as well.

use chrono::{Duration, Utc};
use nexus_kit::error::{Code, Result, internal, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::session::{random_secret, sha256_hex};
use crate::entity::email_token::{self, Purpose};
use crate::entity::user;

pub const VERIFY_TTL: Duration = Duration::hours(24);
pub const RESET_TTL: Duration = Duration::hours(1);

/// A new token for `purpose`, mailed to `email`; earlier unused ones of the same purpose die.
/// `RATE_LIMITED` once the account has been sent `per_day` letters (of any purpose) in the last
/// 24 hours: an account is no way to mail the world.
pub async fn issue(
    db: &DatabaseConnection,
    user_id: Uuid,
    purpose: Purpose,
    email: &str,
    per_day: u64,
) -> Result<String> {
    let token = random_secret();
    let now = Utc::now();
    let ttl = match purpose {
        Purpose::VerifyEmail => VERIFY_TTL,
        Purpose::ResetPassword => RESET_TTL,
    };
    let txn = db.begin().await.map_err(internal)?;
    // The account's row first: its letters are counted one request at a time.
    crate::users::lock_user(&txn, user_id).await?;
    let since = now - crate::mail::LIMIT_WINDOW;
    let sent: Vec<chrono::DateTime<Utc>> = email_token::Entity::find()
        .select_only()
        .column(email_token::Column::CreatedAt)
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::CreatedAt.gt(since))
        .into_tuple()
        .all(&txn)
        .await
        .map_err(internal)?;
    crate::mail::within_daily_limit(
        &sent,
        per_day,
        &format!("this account was sent {per_day} letters in the last day"),
    )?;
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await
        .map_err(internal)?;
    email_token::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        purpose: Set(purpose),
        email: Set(email.to_owned()),
        token_hash: Set(sha256_hex(&token)),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(internal)?;
    txn.commit().await.map_err(internal)?;
    Ok(token)
}

fn invalid() -> nexus_kit::Error {
    Code::BadUserInput.error("this link is invalid, used or expired: ask for a new one")
}

/// The token for `purpose`, if it is neither used nor expired.
async fn pending(
    db: &impl sea_orm::ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<email_token::Model> {
    email_token::Entity::find()
        .filter(email_token::Column::TokenHash.eq(sha256_hex(token.trim())))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(Utc::now()))
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)
}

/// Takes the token for `purpose` (once: a conditional write) and returns it.
async fn take(
    txn: &sea_orm::DatabaseTransaction,
    token: &str,
    purpose: Purpose,
) -> Result<email_token::Model> {
    let found = pending(txn, token, purpose).await?;
    let taken = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(Utc::now()))
        .filter(email_token::Column::Id.eq(found.id))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(txn)
        .await
        .map_err(internal)?;
    if taken.rows_affected != 1 {
        return Err(invalid());
    }
    Ok(found)
}

/// The account a reset token (valid, unused) is for; the token is not used up.
pub async fn reset_target(db: &DatabaseConnection, token: &str) -> Result<user::Model> {
    let found = pending(db, token, Purpose::ResetPassword).await?;
    user::Entity::find_by_id(found.user_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)
}

/// Verifies the address the token was sent to, for `user_id` (the signed-in account: a person
/// who clicks a link meant to prove someone else's account — made with their address — proves
/// nothing for it); if it is not the account's address yet, the account switches to it (unless
/// someone else has taken it meanwhile) and other pending links die.
/// `audit`: `user.email_changed`, by whom — recorded when the proof switches the account to a new
/// address (proving the address it has changes nothing worth recording).
pub async fn verify(
    db: &DatabaseConnection,
    user_id: Uuid,
    token: &str,
    audit: nexus_kit::audit::Entry,
) -> Result<user::Model> {
    let txn = db.begin().await.map_err(internal)?;
    let taken = take(&txn, token, Purpose::VerifyEmail).await?;
    if taken.user_id != user_id {
        return Err(Code::Forbidden
            .error("this link is for another account: sign in as the account it was sent for"));
    }
    let found = user::Entity::find_by_id(taken.user_id)
        .one(&txn)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)?;
    let email = taken.email.clone();
    let switching = found.email != email;
    let previous = found.email.clone();
    let mut verified: user::ActiveModel = found.into();
    verified.email = Set(email.clone());
    verified.email_verified_at = Set(Some(Utc::now()));
    verified.updated_at = Set(Utc::now());
    let verified = verified
        .update(&txn)
        .await
        .map_err(|e| on_conflict(e, || format!("`{email}` belongs to another account now")))?;
    if switching {
        forget_pending(&txn, verified.id).await?;
        let entry = audit
            .target("user", verified.id)
            .details(serde_json::json!({ "from": previous, "to": verified.email }));
        nexus_kit::audit::record(&txn, entry).await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(verified)
}

/// Sets a new password with a reset token and ends every session of the account, and every other
/// pending link (a change of address someone started is not finished by them later). The token
/// must have been sent to the account's address as it is now.
pub async fn reset_password(
    db: &DatabaseConnection,
    token: &str,
    password_hash: String,
    audit: nexus_kit::audit::Entry,
) -> Result<user::Model> {
    let txn = db.begin().await.map_err(internal)?;
    let taken = take(&txn, token, Purpose::ResetPassword).await?;
    let found = crate::users::lock_user(&txn, taken.user_id).await?;
    if found.email != taken.email {
        return Err(invalid());
    }
    let now = Utc::now();
    // A second factor enrolled before the address was ever proven may be an intruder's (who
    // signed up with someone else's address): the owner, proving it now, removes it.
    let never_verified = found.email_verified_at.is_none();
    if never_verified {
        super::two_factor::remove(&txn, found.id).await?;
    }
    let mut changed: user::ActiveModel = found.into();
    changed.password_hash = Set(Some(password_hash));
    // The letter reached the account's address: that proves it too.
    changed.email_verified_at = Set(Some(now));
    changed.updated_at = Set(now);
    let changed = changed.update(&txn).await.map_err(internal)?;
    forget_pending(&txn, changed.id).await?;
    super::session::revoke_all_but(&txn, changed.id, None).await?;
    super::session::end_elsewhere(&txn, changed.id).await?;
    // Whoever holds the letter's link acts as the account.
    let mut audit = audit.target("user", changed.id);
    if never_verified {
        audit = audit.details(serde_json::json!({ "second_factor_removed": true }));
    }
    audit.actor = nexus_kit::audit::Actor::user(changed.id);
    nexus_kit::audit::record(&txn, audit).await?;
    txn.commit().await.map_err(internal)?;
    Ok(changed)
}

/// Every link still waiting in a letter to the user stops working.
pub async fn forget_pending(db: &impl sea_orm::ConnectionTrait, user_id: Uuid) -> Result<()> {
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(Utc::now()))
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}
