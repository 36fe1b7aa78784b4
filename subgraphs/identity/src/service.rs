//! Identity's writes, shared by the GraphQL mutations and the demo seed. Input is validated here,
//! so every entry point gets the same errors.

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Result, bad_input, internal, not_found, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::membership::{self, Role};
use crate::entity::{organization, user};
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

/// Lowercase letters, digits and single dashes, 2 to 64 characters: safe in URLs.
pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = (2..=64).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(())
    } else {
        Err(bad_input(format!(
            "`{slug}` is not a valid slug: use 2 to 64 lowercase letters, digits and single dashes"
        )))
    }
}

fn validate_name(name: &str, what: &str) -> Result<String> {
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
        crate::NAME,
        events::user("user.created", &created, None),
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(created)
}

pub async fn create_organization(
    db: &impl ConnectionTrait,
    name: &str,
    slug: &str,
) -> Result<organization::Model> {
    let name = validate_name(name, "organization")?;
    validate_slug(slug)?;
    let now = Utc::now();
    let created = organization::ActiveModel {
        id: Set(new_id()),
        name: Set(name),
        slug: Set(slug.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        require_two_factor: Set(false),
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_conflict(e, || {
            format!("an organization with slug `{slug}` already exists")
        })
    })?;
    nexus_kit::outbox::emit(
        db,
        crate::NAME,
        events::organization("organization.created", &created),
    )
    .await?;
    Ok(created)
}

/// What `update_organization` changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub slug: Option<String>,
}

/// Renames an organization or changes its slug (owners and admins). `organization.updated` is
/// recorded when something changed.
/// `audit`: `organization.updated`, by whom (recorded only when something changes).
pub async fn update_organization(
    db: &DatabaseConnection,
    actor: Uuid,
    organization_id: Uuid,
    changes: OrganizationChanges,
    audit: Entry,
) -> Result<organization::Model> {
    let name = changes
        .name
        .as_deref()
        .map(|n| validate_name(n, "organization"))
        .transpose()?;
    if let Some(slug) = &changes.slug {
        validate_slug(slug)?;
    }
    let txn = db.begin().await.map_err(internal)?;
    lock_organization(&txn, organization_id).await?;
    require_admin(&txn, organization_id, actor).await?;
    let current = find_organization(&txn, organization_id).await?;
    let name = name.filter(|n| *n != current.name);
    let slug = changes.slug.filter(|s| *s != current.slug);
    if name.is_none() && slug.is_none() {
        txn.commit().await.map_err(internal)?;
        return Ok(current);
    }
    let mut active: organization::ActiveModel = current.into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(slug) = &slug {
        active.slug = Set(slug.clone());
    }
    active.updated_at = Set(Utc::now());
    let updated = active.update(&txn).await.map_err(|e| {
        on_conflict(e, || {
            format!(
                "an organization with slug `{}` already exists",
                slug.unwrap_or_default()
            )
        })
    })?;
    nexus_kit::outbox::emit(
        &txn,
        crate::NAME,
        events::organization("organization.updated", &updated),
    )
    .await?;
    let entry = audit
        .in_organization(updated.id)
        .target("organization", updated.id)
        .details(serde_json::json!({ "name": updated.name, "slug": updated.slug }));
    nexus_kit::audit::record(&txn, entry).await?;
    txn.commit().await.map_err(internal)?;
    Ok(updated)
}

/// Deletes an organization (its owners only), with its memberships and API keys; `confirm_slug`
/// must be its slug, so a wrong id deletes nothing. `organization.deleted` is recorded with it:
/// apps installed there hear it, then the apps service ends their installations
/// (`app.uninstalled` each).
pub async fn delete_organization(
    db: &DatabaseConnection,
    actor: Uuid,
    organization_id: Uuid,
    confirm_slug: &str,
    audit: Entry,
) -> Result<organization::Model> {
    let txn = db.begin().await.map_err(internal)?;
    lock_organization(&txn, organization_id).await?;
    match membership_of(&txn, organization_id, actor).await? {
        Some(m) if m.role == Role::Owner => {}
        _ => return Err(Code::Forbidden.error("only the organization's owners can delete it")),
    }
    let organization = find_organization(&txn, organization_id).await?;
    if organization.slug != confirm_slug.trim() {
        return Err(bad_input(format!(
            "to confirm, give the organization's slug (`{}`) as confirmSlug",
            organization.slug
        )));
    }
    nexus_kit::outbox::emit(
        &txn,
        crate::NAME,
        events::organization("organization.deleted", &organization),
    )
    .await?;
    organization::Entity::delete_by_id(organization_id)
        .exec(&txn)
        .await
        .map_err(internal)?;
    nexus_kit::audit::record(
        &txn,
        audit
            .in_organization(organization_id)
            .target("organization", organization_id)
            .details(serde_json::json!({ "name": organization.name, "slug": organization.slug })),
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(organization)
}

/// Deletes a user's account, with their memberships and sessions. Refused while they are an
/// organization's only owner (someone must be left to run it). In each of their organizations,
/// `user.deleted` and `member.removed` are recorded with it.
pub async fn delete_account(db: &DatabaseConnection, user_id: Uuid, audit: Entry) -> Result<()> {
    let txn = db.begin().await.map_err(internal)?;
    let user = lock_user(&txn, user_id).await?;
    // Every organization of theirs locked (see `lock_organization`), then their memberships read
    // again: a role changed or a membership added before the lock is seen. Locked in the
    // organizations' order, so two deletions never wait on each other.
    let mut locked = std::collections::BTreeSet::new();
    let memberships = loop {
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .order_by_asc(membership::Column::OrganizationId)
            .all(&txn)
            .await
            .map_err(internal)?;
        let unlocked: Vec<Uuid> = memberships
            .iter()
            .map(|m| m.organization_id)
            .filter(|o| !locked.contains(o))
            .collect();
        if unlocked.is_empty() {
            break memberships;
        }
        for organization in unlocked {
            lock_organization(&txn, organization).await?;
            locked.insert(organization);
        }
    };
    for membership in &memberships {
        nexus_kit::outbox::emit(
            &txn,
            crate::NAME,
            events::user("user.deleted", &user, Some(membership.organization_id)),
        )
        .await?;
        nexus_kit::outbox::emit(
            &txn,
            crate::NAME,
            events::member("member.removed", membership),
        )
        .await?;
    }
    user::Entity::delete_by_id(user_id)
        .exec(&txn)
        .await
        .map_err(internal)?;
    for membership in &memberships {
        if ensure_an_owner_remains(&txn, membership.organization_id)
            .await
            .is_err()
        {
            let slug = organization::Entity::find_by_id(membership.organization_id)
                .one(&txn)
                .await
                .map_err(internal)?
                .map(|o| o.slug)
                .unwrap_or_default();
            return Err(Code::Conflict.error(format!(
                "you are the only owner of `{slug}`: make someone else its owner, or delete it, first"
            )));
        }
    }
    nexus_kit::audit::record(
        &txn,
        audit.target("user", user_id).details(serde_json::json!({
            "email": user.email,
            "organizations": memberships.iter().map(|m| m.organization_id).collect::<Vec<_>>(),
        })),
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(())
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
            crate::NAME,
            events::user("user.updated", &updated, Some(membership.organization_id)),
        )
        .await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(updated)
}

pub async fn add_membership(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<membership::Model> {
    let organization = organization::Entity::find_by_id(organization_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no organization with id `{organization_id}`")))?;
    user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no user with id `{user_id}`")))?;
    let added = membership::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(organization_id),
        user_id: Set(user_id),
        role: Set(role),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_conflict(e, || {
            format!(
                "user `{user_id}` is already a member of organization `{}`",
                organization.slug
            )
        })
    })?;
    nexus_kit::outbox::emit(db, crate::NAME, events::member("member.added", &added)).await?;
    Ok(added)
}

pub async fn find_organization_by_slug(
    db: &DatabaseConnection,
    slug: &str,
) -> Result<Option<organization::Model>> {
    organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug))
        .one(db)
        .await
        .map_err(internal)
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

/// A new organization whose creator is its owner, in one transaction.
/// A new organization owned by `owner`; `audit` (`organization.created`, by whom) is recorded
/// with it (none for the platform's own fixtures).
pub async fn create_owned_organization(
    db: &DatabaseConnection,
    owner: Uuid,
    name: &str,
    slug: &str,
    audit: Option<Entry>,
) -> Result<organization::Model> {
    let txn = db.begin().await.map_err(internal)?;
    let organization = create_organization(&txn, name, slug).await?;
    add_membership(&txn, organization.id, owner, Role::Owner).await?;
    if let Some(audit) = audit {
        let entry = audit
            .in_organization(organization.id)
            .target("organization", organization.id)
            .details(serde_json::json!({ "name": organization.name, "slug": organization.slug }));
        nexus_kit::audit::record(&txn, entry).await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(organization)
}

pub(crate) async fn membership_of(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<Option<membership::Model>> {
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await
        .map_err(internal)
}

/// The actor's role, which must be owner or admin of the organization (else `FORBIDDEN`; a
/// non-member learns nothing more than that).
pub(crate) async fn require_admin(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    actor: Uuid,
) -> Result<Role> {
    match membership_of(db, organization_id, actor).await? {
        Some(m) if matches!(m.role, Role::Owner | Role::Admin) => Ok(m.role),
        _ => Err(Code::Forbidden.error("only the organization's owners and admins can do this")),
    }
}

/// Owners manage owners; admins manage admins and members.
pub(crate) fn may_grant(actor: Role, role: Role) -> Result<()> {
    if role == Role::Owner && actor != Role::Owner {
        return Err(
            Code::Forbidden.error("only owners can make someone an owner or change an owner")
        );
    }
    Ok(())
}

/// Fails the transaction if it would leave the organization without an owner.
async fn ensure_an_owner_remains(db: &impl ConnectionTrait, organization_id: Uuid) -> Result<()> {
    let owners = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::Role.eq(Role::Owner))
        .count(db)
        .await
        .map_err(internal)?;
    if owners == 0 {
        return Err(Code::Conflict
            .error("an organization must keep at least one owner: make someone else owner first"));
    }
    Ok(())
}

/// Locks the organization's row for the rest of `txn`, by writing it first: changes to its
/// memberships take turns, so two owners demoting or removing each other at once cannot both
/// pass the last-owner check. (A write, not `SELECT … FOR UPDATE`, so that SQLite takes its
/// write lock here too, waiting its turn instead of failing later.)
pub(crate) async fn lock_organization(
    txn: &DatabaseTransaction,
    organization_id: Uuid,
) -> Result<()> {
    let locked = organization::Entity::update_many()
        .col_expr(
            organization::Column::UpdatedAt,
            sea_orm::sea_query::Expr::col(organization::Column::UpdatedAt).into(),
        )
        .filter(organization::Column::Id.eq(organization_id))
        .exec(txn)
        .await
        .map_err(internal)?;
    if locked.rows_affected == 0 {
        return Err(not_found(format!("no organization `{organization_id}`")));
    }
    Ok(())
}

pub async fn change_member_role(
    db: &DatabaseConnection,
    actor: Uuid,
    membership_id: Uuid,
    role: Role,
    audit: Entry,
) -> Result<membership::Model> {
    let organization_id = find_membership(db, membership_id).await?.organization_id;
    let txn = db.begin().await.map_err(internal)?;
    lock_organization(&txn, organization_id).await?;
    // Read again under the lock: the actor's role and the target's may have just changed.
    let target = find_membership(&txn, membership_id).await?;
    let actor_role = require_admin(&txn, organization_id, actor).await?;
    may_grant(actor_role, role)?;
    may_grant(actor_role, target.role)?;
    if target.role == role {
        // Nothing changes, so nothing is announced.
        txn.commit().await.map_err(internal)?;
        return Ok(target);
    }
    let before = target.role;
    let mut active: membership::ActiveModel = target.into();
    active.role = Set(role);
    let updated = active.update(&txn).await.map_err(internal)?;
    ensure_an_owner_remains(&txn, organization_id).await?;
    nexus_kit::outbox::emit(
        &txn,
        crate::NAME,
        events::member("member.role_changed", &updated),
    )
    .await?;
    nexus_kit::audit::record(
        &txn,
        audit
            .in_organization(organization_id)
            .target("membership", updated.id)
            .details(serde_json::json!({
                "user_id": updated.user_id,
                "from": crate::accounts::session::role_name(before),
                "to": crate::accounts::session::role_name(updated.role),
            })),
    )
    .await?;
    txn.commit().await.map_err(internal)?;
    Ok(updated)
}

pub async fn remove_member(
    db: &DatabaseConnection,
    actor: Uuid,
    membership_id: Uuid,
    audit: Entry,
) -> Result<()> {
    let organization_id = find_membership(db, membership_id).await?.organization_id;
    let txn = db.begin().await.map_err(internal)?;
    lock_organization(&txn, organization_id).await?;
    let target = find_membership(&txn, membership_id).await?;
    let actor_role = require_admin(&txn, organization_id, actor).await?;
    may_grant(actor_role, target.role)?;
    delete_membership(txn, target, audit).await
}

pub async fn leave_organization(
    db: &DatabaseConnection,
    actor: Uuid,
    organization_id: Uuid,
    audit: Entry,
) -> Result<()> {
    let txn = db.begin().await.map_err(internal)?;
    lock_organization(&txn, organization_id).await?;
    let membership = membership_of(&txn, organization_id, actor)
        .await?
        .ok_or_else(|| {
            not_found(format!(
                "you are not a member of organization `{organization_id}`"
            ))
        })?;
    delete_membership(txn, membership, audit).await
}

/// Deletes `membership` in `txn`, which holds the organization's lock, and commits unless no
/// owner would remain.
async fn delete_membership(
    txn: DatabaseTransaction,
    membership: membership::Model,
    audit: Entry,
) -> Result<()> {
    let organization_id = membership.organization_id;
    membership::Entity::delete_by_id(membership.id)
        .exec(&txn)
        .await
        .map_err(internal)?;
    ensure_an_owner_remains(&txn, organization_id).await?;
    nexus_kit::outbox::emit(
        &txn,
        crate::NAME,
        events::member("member.removed", &membership),
    )
    .await?;
    nexus_kit::audit::record(
        &txn,
        audit
            .in_organization(organization_id)
            .target("membership", membership.id)
            .details(serde_json::json!({
                "user_id": membership.user_id,
                "role": crate::accounts::session::role_name(membership.role),
            })),
    )
    .await?;
    txn.commit().await.map_err(internal)
}

/// A membership the actor can see (else `NOT_FOUND`, whether or not it exists).
async fn find_organization(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
) -> Result<organization::Model> {
    organization::Entity::find_by_id(organization_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no organization `{organization_id}`")))
}

async fn find_membership(
    db: &impl ConnectionTrait,
    membership_id: Uuid,
) -> Result<membership::Model> {
    membership::Entity::find_by_id(membership_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no membership `{membership_id}`")))
}

/// Sets a new password hash and ends every session but `keep`, and every pending letter's link,
/// in one transaction (the user's row locked first, so a refresh racing it waits its turn).
pub async fn set_password(
    db: &DatabaseConnection,
    user_id: Uuid,
    password_hash: String,
    keep: Option<Uuid>,
    audit: Entry,
) -> Result<()> {
    let txn = db.begin().await.map_err(internal)?;
    lock_user(&txn, user_id).await?;
    crate::accounts::email::forget_pending(&txn, user_id).await?;
    user::Entity::update_many()
        .col_expr(
            user::Column::PasswordHash,
            sea_orm::sea_query::Expr::value(Some(password_hash)),
        )
        .col_expr(
            user::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(&txn)
        .await
        .map_err(internal)?;
    crate::accounts::session::revoke_all_but(&txn, user_id, keep).await?;
    crate::accounts::session::end_elsewhere(&txn, user_id).await?;
    nexus_kit::audit::record(&txn, audit.target("user", user_id)).await?;
    txn.commit().await.map_err(internal)
}

/// Requires (or stops requiring) a second factor of the organization's members (owners and
/// admins); nothing is recorded when nothing changes.
pub async fn set_two_factor_requirement(
    db: &DatabaseConnection,
    actor: Uuid,
    organization_id: Uuid,
    required: bool,
    audit: Entry,
) -> Result<organization::Model> {
    let txn = db.begin().await.map_err(internal)?;
    lock_organization(&txn, organization_id).await?;
    require_admin(&txn, organization_id, actor).await?;
    let current = find_organization(&txn, organization_id).await?;
    if current.require_two_factor == required {
        txn.commit().await.map_err(internal)?;
        return Ok(current);
    }
    let mut active: organization::ActiveModel = current.into();
    active.require_two_factor = Set(required);
    active.updated_at = Set(Utc::now());
    let updated = active.update(&txn).await.map_err(internal)?;
    nexus_kit::audit::record(&txn, audit).await?;
    txn.commit().await.map_err(internal)?;
    Ok(updated)
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

/// Of `organizations`, those a session signed in without a second factor may not act in (they
/// require one); none for a session with one. One statement, none when there is nothing to ask.
pub(crate) async fn closed_to(
    db: &impl ConnectionTrait,
    organizations: Vec<Uuid>,
    two_factor: bool,
) -> Result<std::collections::HashSet<Uuid>> {
    if two_factor || organizations.is_empty() {
        return Ok(Default::default());
    }
    Ok(organization::Entity::find()
        .select_only()
        .column(organization::Column::Id)
        .filter(organization::Column::Id.is_in(organizations))
        .filter(organization::Column::RequireTwoFactor.eq(true))
        .into_tuple()
        .all(db)
        .await
        .map_err(internal)?
        .into_iter()
        .collect())
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

    #[test]
    fn slugs_are_url_safe() {
        assert!(validate_slug("acme-corp").is_ok());
        for bad in ["a", "Acme", "acme_corp", "-acme", "acme-", "ac--me", "acmé"] {
            assert!(validate_slug(bad).is_err(), "{bad} was accepted");
        }
    }
}
