//! Two-factor sign-in with an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30-second
//! steps, one step of clock skew either way) and single-use recovery codes.
//!
//! Enrolling stores a secret that signs nobody in until a code from it confirms it; confirming
//! hands out ten recovery codes, shown once and stored hashed. A code is accepted once: the
//! newest step accepted is kept, and a code for that step or an older one is refused (RFC 6238
//! §5.2). `logIn` with the password of an enrolled account answers with a challenge (5 minutes,
//! a few wrong codes) that `verifySecondFactor` completes.

use chrono::{DateTime, Utc};
use nexus_kit::error::{Code, Result, internal};
use nexus_kit::id::new_id;
use nexus_kit::secret_box::SecretBox;
use nexus_kit::secrets::{random_secret, sha256_hex};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use totp_rs::{Algorithm, Builder, Secret, Totp};
use uuid::Uuid;

use crate::entity::{recovery_code, second_factor_challenge as challenge, two_factor, user};

const STEP_SECONDS: u64 = 30;
/// Steps either side of now a code is accepted for (RFC 6238 §5.2 recommends one).
const SKEW_STEPS: u64 = 1;
pub const RECOVERY_CODES: usize = 10;
const CHALLENGE_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// Wrong codes a challenge survives; then the password is asked again.
const CHALLENGE_FAILURES: i32 = 5;

/// A secret being enrolled: for the authenticator app.
pub struct Enrollment {
    /// Base32, for typing into an authenticator.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub uri: String,
}

/// What a stored secret is sealed for: its account's row.
fn context(user_id: Uuid) -> String {
    format!("two_factor:{user_id}")
}

/// `nexus secrets reencrypt`: every stored secret sealed with `secrets`' newest key (those
/// from before encryption too); how many were sealed again. Each row changes only if it still
/// holds what was read, so a concurrent enrolment is never overwritten.
pub async fn reencrypt(db: &DatabaseConnection, secrets: &SecretBox) -> Result<u64> {
    let mut changed = 0;
    for factor in two_factor::Entity::find().all(db).await.map_err(internal)? {
        if secrets.is_current(&factor.secret) {
            continue;
        }
        let context = context(factor.user_id);
        let sealed = secrets
            .reseal(&factor.secret, &context)
            .map_err(|e| Code::Internal.error(format!("user {}: {e:#}", factor.user_id)))?;
        changed += two_factor::Entity::update_many()
            .col_expr(two_factor::Column::Secret, Expr::value(sealed))
            .filter(two_factor::Column::UserId.eq(factor.user_id))
            .filter(two_factor::Column::Secret.eq(factor.secret))
            .exec(db)
            .await
            .map_err(internal)?
            .rows_affected;
    }
    Ok(changed)
}

fn totp(secret: &str, issuer: &str, account: &str) -> Result<Totp> {
    let bytes = Secret::try_from_base32(secret)
        .map_err(|_| Code::Internal.error("a stored two-factor secret is unreadable"))?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(STEP_SECONDS)
        .with_skew(0)
        .with_secret(bytes)
        // A colon separates issuer and account in the URI; neither may hold one.
        .with_issuer(Some(issuer.replace(':', " ")))
        .with_account_name(account.replace(':', " "))
        .build()
        .map_err(|e| Code::Internal.error(format!("cannot build a TOTP generator: {e}")))
}

/// The account's confirmed authenticator, if two-factor sign-in is on.
pub async fn enabled(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<two_factor::Model>> {
    Ok(two_factor::Entity::find_by_id(user_id)
        .one(db)
        .await
        .map_err(internal)?
        .filter(|t| t.confirmed_at.is_some()))
}

/// A new secret for `user` (replacing one not yet confirmed). `issuer` names the platform in
/// the authenticator app. `CONFLICT` when two-factor sign-in is already on.
pub async fn enroll(
    db: &DatabaseConnection,
    secrets: &SecretBox,
    user: &user::Model,
    issuer: &str,
) -> Result<Enrollment> {
    if enabled(db, user.id).await?.is_some() {
        return Err(Code::Conflict.error(
            "two-factor sign-in is already on; disable it first to enrol another authenticator",
        ));
    }
    let secret = Secret::generate().to_base32();
    let uri = totp(&secret, issuer, &user.email)?
        .to_url()
        .map_err(|e| Code::Internal.error(format!("cannot write the otpauth URI: {e}")))?;
    let txn = db.begin().await.map_err(internal)?;
    crate::users::lock_user(&txn, user.id).await?;
    two_factor::Entity::delete_many()
        .filter(two_factor::Column::UserId.eq(user.id))
        .filter(two_factor::Column::ConfirmedAt.is_null())
        .exec(&txn)
        .await
        .map_err(internal)?;
    two_factor::ActiveModel {
        user_id: Set(user.id),
        secret: Set(secrets
            .seal(&secret, &context(user.id))
            .map_err(|e| Code::Internal.error(format!("{e:#}")))?),
        confirmed_at: Set(None),
        last_step: Set(0),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await
    .map_err(|e| nexus_kit::error::on_conflict(e, || "two-factor sign-in is already on".into()))?;
    txn.commit().await.map_err(internal)?;
    Ok(Enrollment { secret, uri })
}

/// Whether `code` is a current TOTP code of `factor` not used before; using it marks its step,
/// so the same code (or an older one) is refused from then on, also to a concurrent caller.
async fn take_totp(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    factor: &two_factor::Model,
    code: &str,
) -> Result<bool> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(false);
    }
    let secret = secrets
        .open_sealed(&factor.secret, &context(factor.user_id))
        .map_err(|e| {
            Code::Internal.error(format!("a stored two-factor secret is unreadable: {e}"))
        })?;
    let generator = totp(&secret, "Nexus", "account")?;
    let now = Utc::now().timestamp().max(0) as u64 / STEP_SECONDS;
    let matched = (now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS)
        .filter(|step| *step as i64 > factor.last_step)
        .find(|step| generator.check(&code, step * STEP_SECONDS).is_some());
    let Some(step) = matched else {
        return Ok(false);
    };
    let taken = two_factor::Entity::update_many()
        .col_expr(two_factor::Column::LastStep, Expr::value(step as i64))
        .filter(two_factor::Column::UserId.eq(factor.user_id))
        .filter(two_factor::Column::LastStep.lt(step as i64))
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(taken.rows_affected == 1)
}

/// Uses one of the account's recovery codes (dashes, spaces and case ignored).
async fn take_recovery_code(db: &impl ConnectionTrait, user_id: Uuid, code: &str) -> Result<bool> {
    let normalized = normalize_recovery_code(code);
    if normalized.len() != 10 {
        return Ok(false);
    }
    let used = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(Utc::now()))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(sha256_hex(&normalized)))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(used.rows_affected == 1)
}

fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Which second factor a code proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    Authenticator,
    RecoveryCode,
}

/// Checks `code` (an authenticator code or a recovery code) for an account with two-factor
/// sign-in on, using it up. `None`: wrong, already used, or two-factor sign-in is off.
pub async fn prove(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    user_id: Uuid,
    code: &str,
) -> Result<Option<Proof>> {
    let Some(factor) = enabled(db, user_id).await? else {
        return Ok(None);
    };
    if take_totp(db, secrets, &factor, code).await? {
        return Ok(Some(Proof::Authenticator));
    }
    if take_recovery_code(db, user_id, code).await? {
        return Ok(Some(Proof::RecoveryCode));
    }
    Ok(None)
}

/// Ten fresh recovery codes for the account (earlier ones stop working), to show once.
async fn replace_recovery_codes(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<String>> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .map_err(internal)?;
    let now = Utc::now();
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut rows = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        // 10 characters of base32 (50 bits), shown as xxxxx-xxxxx.
        let raw = Secret::generate().to_base32().to_ascii_lowercase();
        let code: String = raw.chars().take(10).collect();
        rows.push(recovery_code::ActiveModel {
            id: Set(new_id()),
            user_id: Set(user_id),
            code_hash: Set(sha256_hex(&code)),
            used_at: Set(None),
            created_at: Set(now),
        });
        codes.push(format!("{}-{}", &code[..5], &code[5..]));
    }
    recovery_code::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map_err(internal)?;
    Ok(codes)
}

/// Turns two-factor sign-in on once `code` comes from the enrolled secret; the recovery codes.
/// Every other session of the account ends: they were signed in without the second factor.
pub async fn confirm(
    db: &DatabaseConnection,
    secrets: &SecretBox,
    user_id: Uuid,
    code: &str,
    this_session: Option<Uuid>,
    audit: nexus_kit::audit::Entry,
) -> Result<Vec<String>> {
    let txn = db.begin().await.map_err(internal)?;
    crate::users::lock_user(&txn, user_id).await?;
    let factor = two_factor::Entity::find_by_id(user_id)
        .one(&txn)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            Code::BadUserInput.error("nothing to confirm: enrol first (enrollTwoFactor)")
        })?;
    if factor.confirmed_at.is_some() {
        return Err(Code::Conflict.error("two-factor sign-in is already on"));
    }
    if !take_totp(&txn, secrets, &factor, code).await? {
        return Err(Code::BadUserInput.error(
            "that code does not match the authenticator's secret (or was already used); check the device's clock and try the next code",
        ));
    }
    two_factor::Entity::update_many()
        .col_expr(two_factor::Column::ConfirmedAt, Expr::value(Utc::now()))
        .filter(two_factor::Column::UserId.eq(user_id))
        .exec(&txn)
        .await
        .map_err(internal)?;
    let codes = replace_recovery_codes(&txn, user_id).await?;
    super::session::revoke_all_but(&txn, user_id, this_session).await?;
    super::session::end_elsewhere(&txn, user_id).await?;
    nexus_kit::audit::record(&txn, audit).await?;
    txn.commit().await.map_err(internal)?;
    Ok(codes)
}

/// `code` proves the account's second factor, or the error says why not. Wrong codes count
/// against the account's limit (`LoginLimiter::second_factor`), whoever sends them.
pub async fn require_code(
    db: &impl ConnectionTrait,
    config: &super::config::AuthConfig,
    user_id: Uuid,
    code: &str,
) -> Result<Proof> {
    config.limiter.second_factor(user_id).await?;
    match prove(db, &config.secrets, user_id, code).await? {
        Some(proof) => {
            config.limiter.second_factor_succeeded(user_id).await;
            Ok(proof)
        }
        None => Err(Code::Unauthenticated.error(
            "wrong or already used code: give the current code from your authenticator app, or an unused recovery code",
        )),
    }
}

/// A transaction holding the account's row, once `code` proves its second factor (which must
/// be on). A wrong code still counts: the limiter is not in the transaction that rolls back.
async fn begin_with_code(
    db: &DatabaseConnection,
    config: &super::config::AuthConfig,
    user_id: Uuid,
    code: &str,
) -> Result<sea_orm::DatabaseTransaction> {
    let txn = db.begin().await.map_err(internal)?;
    crate::users::lock_user(&txn, user_id).await?;
    if enabled(&txn, user_id).await?.is_none() {
        return Err(Code::BadUserInput.error("two-factor sign-in is not on"));
    }
    require_code(&txn, config, user_id, code).await?;
    Ok(txn)
}

/// Turns two-factor sign-in off once `code` proves it (authenticator or recovery code).
pub async fn disable(
    db: &DatabaseConnection,
    config: &super::config::AuthConfig,
    user_id: Uuid,
    code: &str,
    audit: nexus_kit::audit::Entry,
) -> Result<()> {
    let txn = begin_with_code(db, config, user_id, code).await?;
    remove(&txn, user_id).await?;
    nexus_kit::audit::record(&txn, audit).await?;
    txn.commit().await.map_err(internal)
}

/// The account's second factor, its recovery codes and its open challenges are gone.
pub async fn remove(db: &impl sea_orm::ConnectionTrait, user_id: Uuid) -> Result<()> {
    two_factor::Entity::delete_many()
        .filter(two_factor::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .map_err(internal)?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .map_err(internal)?;
    challenge::Entity::delete_many()
        .filter(challenge::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}

/// New recovery codes (the old ones die) once `code` proves the second factor.
pub async fn regenerate_recovery_codes(
    db: &DatabaseConnection,
    config: &super::config::AuthConfig,
    user_id: Uuid,
    code: &str,
    audit: nexus_kit::audit::Entry,
) -> Result<Vec<String>> {
    let txn = begin_with_code(db, config, user_id, code).await?;
    let codes = replace_recovery_codes(&txn, user_id).await?;
    nexus_kit::audit::record(&txn, audit).await?;
    txn.commit().await.map_err(internal)?;
    Ok(codes)
}

/// Unused recovery codes the account has left.
pub async fn recovery_codes_left(db: &DatabaseConnection, user_id: Uuid) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(db)
        .await
        .map_err(internal)
}

/// A password accepted for an account with two-factor sign-in on: the challenge to complete.
pub struct Challenge {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn challenge(
    db: &DatabaseConnection,
    user_id: Uuid,
    device: &super::session::Device,
) -> Result<Challenge> {
    let token = random_secret();
    let now = Utc::now();
    let expires_at = now + CHALLENGE_TTL;
    // The account's finished challenges go: the table holds what may still be completed.
    challenge::Entity::delete_many()
        .filter(challenge::Column::UserId.eq(user_id))
        .filter(
            sea_orm::Condition::any()
                .add(challenge::Column::ExpiresAt.lte(now))
                .add(challenge::Column::UsedAt.is_not_null())
                .add(challenge::Column::Failures.gte(CHALLENGE_FAILURES)),
        )
        .exec(db)
        .await
        .map_err(internal)?;
    challenge::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id),
        token_hash: Set(sha256_hex(&token)),
        failures: Set(0),
        expires_at: Set(expires_at),
        used_at: Set(None),
        user_agent: Set(device.user_agent.clone()),
        address: Set(device.address.clone()),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(internal)?;
    Ok(Challenge { token, expires_at })
}

/// The error `logIn` answers an account with two-factor sign-in with.
pub fn second_factor_required(challenge: Challenge) -> nexus_kit::Error {
    use async_graphql::ErrorExtensions;
    Code::SecondFactorRequired
        .error("enter the code from your authenticator app (or a recovery code) with verifySecondFactor")
        .extend_with(|_, e| {
            e.set("challenge", challenge.token.clone());
            e.set("expiresAt", challenge.expires_at.to_rfc3339());
        })
}

fn dead_challenge() -> nexus_kit::Error {
    Code::Unauthenticated
        .error("this sign-in has expired, was completed, or had too many wrong codes: log in again")
}

/// Completes a challenge with `code`: the user and the device they began on. The challenge
/// works once; wrong codes count against it and against the account.
/// A wrong code is recorded as `failure` (about the account); a challenge that does not exist
/// (or is dead) records nothing, so made-up ones cannot fill the log.
pub async fn complete(
    db: &DatabaseConnection,
    config: &super::config::AuthConfig,
    token: &str,
    code: &str,
    failure: nexus_kit::audit::Entry,
) -> Result<(user::Model, super::session::Device, Proof)> {
    let found = challenge::Entity::find()
        .filter(challenge::Column::TokenHash.eq(sha256_hex(token)))
        .one(db)
        .await
        .map_err(internal)?
        .filter(|c| {
            c.used_at.is_none() && c.expires_at > Utc::now() && c.failures < CHALLENGE_FAILURES
        })
        .ok_or_else(dead_challenge)?;
    let proof = match require_code(db, config, found.user_id, code).await {
        Ok(proof) => proof,
        Err(e) => {
            challenge::Entity::update_many()
                .col_expr(
                    challenge::Column::Failures,
                    Expr::col(challenge::Column::Failures).add(1),
                )
                .filter(challenge::Column::Id.eq(found.id))
                .exec(db)
                .await
                .map_err(internal)?;
            super::sign_in_log::record_failure(
                db,
                failure,
                Some(found.user_id),
                "wrong second factor",
            )
            .await;
            return Err(e);
        }
    };
    // One completion per challenge, also for two racing callers with two good codes.
    let claimed = challenge::Entity::update_many()
        .col_expr(challenge::Column::UsedAt, Expr::value(Utc::now()))
        .filter(challenge::Column::Id.eq(found.id))
        .filter(challenge::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    if claimed.rows_affected != 1 {
        return Err(dead_challenge());
    }
    let user = user::Entity::find_by_id(found.user_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(dead_challenge)?;
    let device = super::session::Device {
        user_agent: found.user_agent,
        address: found.address,
    };
    Ok((user, device, proof))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_read_loosely() {
        assert_eq!(normalize_recovery_code(" ABCDE-fghij "), "abcdefghij");
    }

    #[test]
    fn the_uri_names_platform_and_account() {
        let secret = Secret::generate().to_base32();
        let uri = totp(&secret, "Nexus: dev", "ada@example.com")
            .and_then(|t| t.to_url().map_err(|_| Code::Internal.error("uri")))
            .unwrap_or_default();
        assert!(
            uri.starts_with("otpauth://totp/Nexus%20%20dev:ada%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    }
}
