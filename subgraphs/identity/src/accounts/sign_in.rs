//! The steps of a sign-in every door shares (`logIn`, the OAuth sign-in page, the account pages):
//! the password, under the login limits, then — for an account with two-factor sign-in — a
//! challenge that a code completes (`two_factor::complete`).

use nexus_kit::accounts::Credentials;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Result};
use sea_orm::DatabaseConnection;

use super::config::AuthConfig;
use super::session::Device;
use super::sign_in_log::record_failure;
use super::{password, two_factor};
use crate::entity::user;
use crate::users;

/// The account whose password `credentials` give: limits first, and the same error, after the
/// same work, for an unknown email and a wrong password. A wrong one is recorded as `failure`
/// (`user.sign_in_failed`) when given. A password proves the account, not a sign-in: no second
/// factor is asked here.
pub async fn password_holder(
    db: &DatabaseConnection,
    config: &AuthConfig,
    credentials: &Credentials,
    failure: Option<Entry>,
) -> Result<user::Model> {
    let email = credentials.email.trim().to_lowercase();
    let found = users::find_user_by_email(db, &email).await?;
    let known_device = found.as_ref().is_some_and(|user| {
        super::known_device::is_known(&config.keys, credentials.known_device.as_deref(), user.id)
    });
    config
        .limiter
        .attempt(&email, &credentials.address, known_device)
        .await?;
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    let wrong = || Code::Unauthenticated.error("wrong email or password");
    if !password::verify(credentials.password.clone(), stored).await? {
        if let Some(failure) = failure {
            let user = found.as_ref().map(|u| u.id);
            record_failure(db, failure, user, "wrong email or password").await;
        }
        return Err(wrong());
    }
    config
        .limiter
        .succeeded(&email, &credentials.address, known_device)
        .await;
    found.ok_or_else(wrong)
}

/// A sign-in's password step: the account, or — when it has two-factor sign-in —
/// `SECOND_FACTOR_REQUIRED` with a challenge begun on `device`.
pub async fn password_step(
    db: &DatabaseConnection,
    config: &AuthConfig,
    credentials: &Credentials,
    device: &Device,
    failure: Entry,
) -> Result<user::Model> {
    let user = password_holder(db, config, credentials, Some(failure)).await?;
    if two_factor::enabled(db, user.id).await?.is_some() {
        let challenge = two_factor::challenge(db, user.id, device).await?;
        return Err(two_factor::second_factor_required(challenge));
    }
    Ok(user)
}
