//! Members of an organization: roles changed, members removed, leaving.

use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::internal;
use nexus_kit::id::parse_id;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::types::Membership;
use crate::entity::membership::Role;
use crate::memberships;
use crate::tenancy::tenancy;

#[derive(InputObject)]
pub struct ChangeMemberRoleInput {
    pub membership_id: ID,
    pub role: Role,
}

/// `require_allowed_in` for the organization of a membership.
async fn allowed_for_membership(ctx: &Context<'_>, membership_id: uuid::Uuid) -> Result<()> {
    let db = ctx.data_unchecked::<DatabaseConnection>();
    if let Some(m) = crate::entity::membership::Entity::find_by_id(membership_id)
        .one(db)
        .await
        .map_err(internal)?
    {
        tenancy(ctx).require_allowed_in(m.organization_id).await?;
    }
    Ok(())
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Changes a member's role. The last owner cannot be demoted.
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        input: ChangeMemberRoleInput,
    ) -> Result<Membership> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let membership_id = parse_id(&input.membership_id, "membership")?;
        allowed_for_membership(ctx, membership_id).await?;
        let audit = Entry::by(ctx, "member.role_changed");
        memberships::change_member_role(db, actor, membership_id, input.role, audit)
            .await
            .map(Membership)
    }

    /// Removes a member. The last owner cannot be removed.
    async fn remove_member(&self, ctx: &Context<'_>, membership_id: ID) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let membership_id = parse_id(&membership_id, "membership")?;
        allowed_for_membership(ctx, membership_id).await?;
        let audit = Entry::by(ctx, "member.removed");
        memberships::remove_member(db, actor, membership_id, audit).await?;
        Ok(true)
    }

    /// Leaves an organization. Its last owner cannot leave.
    async fn leave_organization(&self, ctx: &Context<'_>, organization_id: ID) -> Result<bool> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&organization_id, "organization")?;
        let audit = Entry::by(ctx, "member.left");
        memberships::leave_organization(db, actor, organization_id, audit).await?;
        Ok(true)
    }
}
