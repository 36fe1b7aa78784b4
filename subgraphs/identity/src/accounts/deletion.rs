//! Deleting an account: what it alone owned, its memberships, sessions and keys go in one
//! transaction, and the apps of its organizations hear of it.

use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Result, internal};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::membership::{self};
use crate::entity::{organization, user};
use crate::events;
use crate::memberships::{ensure_an_owner_remains, lock_organization};
use crate::users::lock_user;

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
            crate::name::NAME,
            events::user("user.deleted", &user, Some(membership.organization_id)),
        )
        .await?;
        nexus_kit::outbox::emit(
            &txn,
            crate::name::NAME,
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
