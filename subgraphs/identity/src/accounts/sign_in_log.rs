//! What the audit log says of a sign-in: `user.sign_in_failed` for a wrong password or second
//! factor, `user.signed_in` for a session begun. Apart from the steps (`sign_in`, `two_factor`),
//! which both record failures.

use nexus_kit::audit::{Actor, Entry};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

/// Records `user.sign_in_failed` (`entry`), about `user` when the account exists. Logged when it
/// cannot be written: the failed sign-in is answered all the same.
pub async fn record_failure(
    db: &DatabaseConnection,
    entry: Entry,
    user: Option<Uuid>,
    reason: &'static str,
) {
    let mut entry = entry.details(serde_json::json!({ "reason": reason }));
    entry.action = "user.sign_in_failed";
    if let Some(user) = user {
        entry = entry.target("user", user);
    }
    if let Err(e) = nexus_kit::audit::append(db, entry).await {
        tracing::error!(error = %e, "cannot record a failed sign-in");
    }
}

/// `user.signed_in` (`entry`): by the user, about them.
pub fn signed_in(entry: Entry, user: Uuid) -> Entry {
    let mut entry = entry.target("user", user);
    entry.actor = Actor::user(user);
    entry
}
