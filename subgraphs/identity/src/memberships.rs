//! Who belongs to an organization, and as what: adding, role changes, removal and leaving (an
//! owner always remains, under the organization's row lock, `lock_organization`), the role rules
//! (`require_admin`, `may_grant`), and the organizations closed to a session that lacks the
//! second factor they require (`closed_to`).

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Result, internal, not_found, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::membership::{self, Role};
use crate::entity::{organization, user};
use crate::events;

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
    nexus_kit::outbox::emit(
        db,
        crate::name::NAME,
        events::member("member.added", &added),
    )
    .await?;
    Ok(added)
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
pub(crate) async fn ensure_an_owner_remains(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
) -> Result<()> {
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
        crate::name::NAME,
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
                "from": crate::entity::membership::role_name(before),
                "to": crate::entity::membership::role_name(updated.role),
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
        crate::name::NAME,
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
                "role": crate::entity::membership::role_name(membership.role),
            })),
    )
    .await?;
    txn.commit().await.map_err(internal)
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
