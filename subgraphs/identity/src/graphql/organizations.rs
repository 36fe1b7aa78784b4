//! Organizations: made, changed and deleted.

use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;

use super::types::Organization;
use crate::organizations;
use crate::tenancy::tenancy;

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    /// 2 to 64 lowercase letters, digits and single dashes; unique.
    pub slug: String,
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    pub name: Option<String>,
    /// 2 to 64 lowercase letters, digits and single dashes; unique.
    pub slug: Option<String>,
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Creates an organization with you as its owner.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let owner = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "organization.created");
        organizations::create_owned_organization(db, owner, &input.name, &input.slug, Some(audit))
            .await
            .map(Organization)
    }

    /// Renames an organization or changes its slug (owners and admins). Apps installed there
    /// with `organizations:read` hear `organization.updated`.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateOrganizationInput,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&id, "organization")?;
        tenancy(ctx).require_allowed_in(organization_id).await?;
        let changes = organizations::OrganizationChanges {
            name: input.name,
            slug: input.slug,
        };
        let audit = Entry::by(ctx, "organization.updated");
        organizations::update_organization(db, actor, organization_id, changes, audit)
            .await
            .map(Organization)
    }

    /// Deletes an organization, with its memberships and API keys (its owners only). Give its slug
    /// as `confirmSlug`. Apps installed there hear `organization.deleted`, and their
    /// installations end (`app.uninstalled`).
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
        confirm_slug: String,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&id, "organization")?;
        tenancy(ctx).require_allowed_in(organization_id).await?;
        let audit = Entry::by(ctx, "organization.deleted");
        organizations::delete_organization(db, actor, organization_id, &confirm_slug, audit)
            .await
            .map(Organization)
    }
}
