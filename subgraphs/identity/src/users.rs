//! An account: creation, profile, address proof, the platform-administrator flag, and the row
//! lock every change to an account takes first (`lock_user`). Input is validated here, so every
//! entry point (GraphQL, the account pages, the demo seed) gets the same errors.

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Result, bad_input, internal, not_found, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::membership::{self};
use crate::entity::user;
use crate::events;

/// Trimmed and lowercased, so uniqueness is case-insensitive.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(bad_input(format!("`{email}` is not a valid email address")))
    }
}

/// A name people or organizations go by: one line of 1 to 200 characters, shown as written.
pub(crate) fn validate_name(name: &str, what: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(bad_input(format!(
            "{what} name must be 1 to 200 characters"
        )));
    }
    // Names go into letters, pages and apps' payloads: one line, shown as written.
    if name.chars().any(crate::mail::invisible) {
        return Err(bad_input(format!(
            "{what} name may not contain control characters, line breaks or invisible characters"
        )));
    }
    Ok(name.to_owned())
}

/// A new account, with `user.created` recorded in its transaction. An account created this way
/// belongs to no organization, so no app hears of it (events about users reach the apps of the
/// user's organization).
pub async fn create_user(
    db: &(impl ConnectionTrait + TransactionTrait),
    email: &str,
    name: &str,
    avatar_url: Option<String>,
    password_hash: Option<String>,
) -> Result<user::Model> {
    let email = normalize_email(email)?;
    let name = validate_name(name, "user")?;
    let now = Utc::now();
    let txn = db.begin().await.map_err(internal)?;
    let created = user::ActiveModel {
        id: Set(new_id()),
        email: Set(email.clone()),
        name: Set(name),
        avatar_url: Set(avatar_url),
        password_hash: Set(password_hash),
        is_platform_admin: Set(false),
        email_verified_at: Set(None),
        session_epoch: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| on_conflict(e, || format!("a user with email `{email}` already exists")))?;
    nexus_kit::outbox::emit(
        &txn,
        crate::name::NAME,
        events::user("user.created", &created, None),
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(created)
}

/// The user, their row written first: SQLite takes its write lock here (waiting its turn instead
/// of failing a read-then-write transaction later), and changes to one account take turns.
pub(crate) async fn lock_user(txn: &DatabaseTransaction, user_id: Uuid) -> Result<user::Model> {
    user::Entity::update_many()
        .col_expr(
            user::Column::UpdatedAt,
            sea_orm::sea_query::Expr::col(user::Column::UpdatedAt).into(),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(txn)
        .await
        .map_err(internal)?;
    user::Entity::find_by_id(user_id)
        .one(txn)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no user with id `{user_id}`")))
}

/// What `update_profile` changes: `None` leaves a field as it is; `avatar_url: Some(None)`
/// removes the picture.
#[derive(Default)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub avatar_url: Option<Option<String>>,
}

/// An avatar is an `https` URL of at most 2,048 characters (it is shown to other members).
fn validate_avatar_url(url: &str) -> Result<String> {
    let url = url.trim();
    let host = url
        .strip_prefix("https://")
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .unwrap_or_default();
    let valid = !host.is_empty()
        && url.len() <= 2048
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    match valid {
        true => Ok(url.to_owned()),
        false => Err(bad_input(
            "avatarUrl must be an https URL of at most 2048 characters",
        )),
    }
}

/// Changes the caller's own name or avatar. `user.updated` is recorded in each of their
/// organizations (apps installed there with `users:read` hear it) when something changed.
pub async fn update_profile(
    db: &DatabaseConnection,
    user_id: Uuid,
    changes: ProfileChanges,
) -> Result<user::Model> {
    let name = changes
        .name
        .as_deref()
        .map(|n| validate_name(n, "user"))
        .transpose()?;
    let avatar_url = match changes.avatar_url {
        Some(Some(url)) => Some(Some(validate_avatar_url(&url)?)),
        other => other,
    };
    let txn = db.begin().await.map_err(internal)?;
    let current = lock_user(&txn, user_id).await?;
    let name = name.filter(|n| *n != current.name);
    let avatar_url = avatar_url.filter(|a| *a != current.avatar_url);
    if name.is_none() && avatar_url.is_none() {
        txn.commit().await.map_err(internal)?;
        return Ok(current);
    }
    let mut active: user::ActiveModel = current.into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(avatar_url) = avatar_url {
        active.avatar_url = Set(avatar_url);
    }
    active.updated_at = Set(Utc::now());
    let updated = active.update(&txn).await.map_err(internal)?;
    let organizations = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .all(&txn)
        .await
        .map_err(internal)?;
    for membership in organizations {
        nexus_kit::outbox::emit(
            &txn,
            crate::name::NAME,
            events::user("user.updated", &updated, Some(membership.organization_id)),
        )
        .await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(updated)
}

pub async fn find_user_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
        .map_err(internal)
}

/// Marks the user's address as proven (the demo seed's users; everyone else verifies by mail).
pub async fn mark_email_verified(db: &DatabaseConnection, user_id: Uuid) -> Result<()> {
    user::Entity::update_many()
        .col_expr(
            user::Column::EmailVerifiedAt,
            sea_orm::sea_query::Expr::value(Some(Utc::now())),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}

/// `nexus admin grant EMAIL`: makes (or unmakes) a platform administrator. An address nobody has proven is refused unless
/// `force`: whoever signed up with it first may not be who the operator means.
pub async fn set_platform_admin(
    db: &DatabaseConnection,
    email: &str,
    admin: bool,
    force: bool,
) -> Result<user::Model> {
    let email = normalize_email(email)?;
    let user = find_user_by_email(db, &email)
        .await?
        .ok_or_else(|| not_found(format!("no user with email `{email}`")))?;
    if admin && !force && user.email_verified_at.is_none() {
        return Err(Code::Forbidden.error(format!(
            "`{email}` has not verified its address, so this account may not be who you mean; verify it first, or use --force"
        )));
    }
    if user.is_platform_admin == admin {
        return Ok(user);
    }
    let txn = db.begin().await.map_err(internal)?;
    let mut active: user::ActiveModel = user.into();
    active.is_platform_admin = Set(admin);
    active.updated_at = Set(Utc::now());
    let updated = active.update(&txn).await.map_err(internal)?;
    let action = if admin {
        "platform_admin.granted"
    } else {
        "platform_admin.revoked"
    };
    nexus_kit::audit::record(
        &txn,
        Entry::new(action, nexus_kit::audit::Actor::operator(), None)
            .target("user", updated.id)
            .details(serde_json::json!({ "email": updated.email, "forced": force })),
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.d",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} was accepted");
        }
    }
}
