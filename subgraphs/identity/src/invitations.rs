//! Invitations: owners and admins invite an address to an organization with a role; the
//! invitation is mailed, works once for 7 days, can be revoked, and is accepted only by a
//! signed-in user whose **verified** email is that address — so registering someone else's
//! address first gets an attacker nothing.

use chrono::{DateTime, Duration, Utc};
use nexus_kit::error::{Code, Result, internal, not_found};
use nexus_kit::id::new_id;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::accounts::session::{random_secret, sha256_hex};
use crate::entity::invitation;
use crate::entity::membership::{self, Role};
use crate::entity::{organization, user};
use crate::memberships::add_membership;
use crate::memberships::may_grant;
use crate::memberships::membership_of;
use crate::memberships::require_admin;
use crate::users::find_user_by_email;
use crate::users::normalize_email;

pub const INVITATION_TTL: Duration = Duration::days(7);

/// A new invitation and its token (to be mailed; stored hashed). Earlier pending invitations of
/// the same address to the organization are revoked. `RATE_LIMITED` past `limits`' invitations a
/// day per organization and per inviter (counted in the database, one inviter and organization
/// at a time, so every replica and restart counts the same).
#[allow(clippy::too_many_arguments)]
pub async fn invite(
    db: &DatabaseConnection,
    limits: &crate::mail::MailLimits,
    actor: Uuid,
    organization_id: Uuid,
    email: &str,
    role: Role,
    audit: nexus_kit::audit::Entry,
) -> Result<(invitation::Model, String)> {
    let actor_role = require_admin(db, organization_id, actor).await?;
    may_grant(actor_role, role)?;
    let email = normalize_email(email)?;
    refuse_member(db, organization_id, &email).await?;
    let token = random_secret();
    let now = Utc::now();
    let txn = db.begin().await.map_err(internal)?;
    crate::users::lock_user(&txn, actor).await?;
    crate::memberships::lock_organization(&txn, organization_id).await?;
    within_invitation_limits(&txn, limits, organization_id, actor, now).await?;
    revoke_pending(&txn, organization_id, &email, now).await?;
    let created = invitation::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(organization_id),
        email: Set(email),
        role: Set(role),
        invited_by: Set(actor),
        token_hash: Set(sha256_hex(&token)),
        expires_at: Set(now + INVITATION_TTL),
        accepted_at: Set(None),
        accepted_by: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(internal)?;
    nexus_kit::audit::record(&txn, about(audit, &created)).await?;
    txn.commit().await.map_err(internal)?;
    Ok((created, token))
}

/// `CONFLICT` when `email` already belongs to a member of the organization.
async fn refuse_member(db: &DatabaseConnection, organization_id: Uuid, email: &str) -> Result<()> {
    let already = match find_user_by_email(db, email).await? {
        Some(invited) => membership_of(db, organization_id, invited.id).await?,
        None => None,
    };
    if already.is_some() {
        return Err(Code::Conflict.error(format!("`{email}` is already a member")));
    }
    Ok(())
}

/// `RATE_LIMITED` once the organization or the inviter sent `limits`' invitations in the last
/// day (counted in `txn`, under the inviter's and the organization's locks).
async fn within_invitation_limits(
    txn: &DatabaseTransaction,
    limits: &crate::mail::MailLimits,
    organization_id: Uuid,
    actor: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let since = now - crate::mail::LIMIT_WINDOW;
    for (column, value, per_day, who) in [
        (
            invitation::Column::OrganizationId,
            organization_id,
            limits.invitations_per_organization,
            "this organization",
        ),
        (
            invitation::Column::InvitedBy,
            actor,
            limits.invitations_per_inviter,
            "you",
        ),
    ] {
        let sent: Vec<DateTime<Utc>> = invitation::Entity::find()
            .select_only()
            .column(invitation::Column::CreatedAt)
            .filter(column.eq(value))
            .filter(invitation::Column::CreatedAt.gt(since))
            .into_tuple()
            .all(txn)
            .await
            .map_err(internal)?;
        crate::mail::within_daily_limit(
            &sent,
            per_day,
            &format!("{who} sent {per_day} invitations in the last day"),
        )?;
    }
    Ok(())
}

/// Revokes, in `txn`, the organization's invitations of `email` still waiting for an answer.
async fn revoke_pending(
    txn: &DatabaseTransaction,
    organization_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(now))
        .filter(invitation::Column::OrganizationId.eq(organization_id))
        .filter(invitation::Column::Email.eq(email))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(txn)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Revokes a pending invitation (owners and admins of its organization).
pub async fn revoke(
    db: &DatabaseConnection,
    actor: Uuid,
    id: Uuid,
    audit: nexus_kit::audit::Entry,
) -> Result<invitation::Model> {
    let found = invitation::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no invitation `{id}`")))?;
    require_admin(db, found.organization_id, actor).await?;
    // Conditional: an acceptance racing the revocation wins or loses, never both.
    let now = Utc::now();
    let txn = db.begin().await.map_err(internal)?;
    let revoked = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(found.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await
        .map_err(internal)?;
    if revoked.rows_affected != 1 {
        return Err(Code::Conflict.error("this invitation was already accepted or revoked"));
    }
    nexus_kit::audit::record(&txn, about(audit, &found)).await?;
    txn.commit().await.map_err(internal)?;
    Ok(invitation::Model {
        revoked_at: Some(now),
        ..found
    })
}

/// An audit entry about `invitation`.
fn about(
    audit: nexus_kit::audit::Entry,
    invitation: &invitation::Model,
) -> nexus_kit::audit::Entry {
    audit
        .in_organization(invitation.organization_id)
        .target("invitation", invitation.id)
        .details(serde_json::json!({
            "email": invitation.email,
            "role": crate::entity::membership::role_name(invitation.role),
        }))
}

/// The invitation `token` names, if it waits for an answer (not accepted, revoked or expired).
pub async fn pending(db: &DatabaseConnection, token: &str) -> Result<Option<invitation::Model>> {
    let found = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(sha256_hex(token.trim())))
        .one(db)
        .await
        .map_err(internal)?;
    Ok(found
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > Utc::now()))
}

/// Accepts an invitation as `user_id`: their verified email must be the invited address.
pub async fn accept(
    db: &DatabaseConnection,
    user_id: Uuid,
    token: &str,
    audit: nexus_kit::audit::Entry,
) -> Result<membership::Model> {
    let invalid =
        || Code::BadUserInput.error("this invitation is invalid, used, revoked or expired");
    let found = pending(db, token).await?.ok_or_else(invalid)?;
    let now = Utc::now();
    let user = user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)?;
    if user.email != found.email {
        return Err(Code::Forbidden.error(
            "this invitation is for another email address: sign in with the invited address",
        ));
    }
    if user.email_verified_at.is_none() {
        return Err(Code::Forbidden.error(
            "confirm your email address first (see the letter Nexus sent you, or resendVerification)",
        ));
    }
    let txn = db.begin().await.map_err(internal)?;
    let taken = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
        .col_expr(invitation::Column::AcceptedBy, Expr::value(user_id))
        .filter(invitation::Column::Id.eq(found.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await
        .map_err(internal)?;
    if taken.rows_affected != 1 {
        return Err(invalid());
    }
    // The inviter must still be allowed to give that role: someone removed or demoted since
    // cannot bring themselves (or anyone) back through an invitation sent before.
    let inviter_role = require_admin(&txn, found.organization_id, found.invited_by)
        .await
        .map_err(|_| {
            Code::Forbidden
                .error("whoever sent this invitation may no longer invite: ask for a new one")
        })?;
    may_grant(inviter_role, found.role)?;
    let added = add_membership(&txn, found.organization_id, user_id, found.role).await?;
    nexus_kit::audit::record(&txn, about(audit, &found)).await?;
    txn.commit().await.map_err(internal)?;
    Ok(added)
}

/// The organization's and the inviter's names, for the letter.
pub async fn letter_names(
    db: &DatabaseConnection,
    invitation: &invitation::Model,
) -> Result<(String, String)> {
    let organization = organization::Entity::find_by_id(invitation.organization_id)
        .one(db)
        .await
        .map_err(internal)?
        .map(|o| o.name)
        .unwrap_or_default();
    let inviter = user::Entity::find_by_id(invitation.invited_by)
        .one(db)
        .await
        .map_err(internal)?
        .map(|u| u.name)
        .unwrap_or_default();
    Ok((organization, inviter))
}
