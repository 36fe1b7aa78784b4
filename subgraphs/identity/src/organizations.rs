//! An organization: creation (with its first owner), changes, deletion and the two-factor
//! requirement. Input is validated here, so every entry point gets the same errors.

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Result, bad_input, internal, not_found, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::membership::Role;
use crate::entity::organization;
use crate::events;
use crate::memberships::{add_membership, lock_organization, membership_of, require_admin};
use crate::users::validate_name;

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
        crate::name::NAME,
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
        crate::name::NAME,
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
        crate::name::NAME,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert!(validate_slug("acme-corp").is_ok());
        for bad in ["a", "Acme", "acme_corp", "-acme", "acme-", "ac--me", "acmé"] {
            assert!(validate_slug(bad).is_err(), "{bad} was accepted");
        }
    }
}
