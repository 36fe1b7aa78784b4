//! Invitations to an organization: sent by mail, revoked, accepted.

use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::internal;
use nexus_kit::id::parse_id;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::types::{Invitation, Membership};
use crate::accounts::AuthConfig;
use crate::entity::membership::Role;
use crate::invitations;
use crate::mail::Mailer;
use crate::tenancy::tenancy;
use crate::users;

#[derive(InputObject)]
pub struct InviteMemberInput {
    pub organization_id: ID,
    /// Whoever proves this address (a verified account) can accept.
    pub email: String,
    pub role: Role,
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites an address to an organization (owners and admins; only owners invite owners). A
    /// letter with a single-use link goes to the address; a signed-in user whose verified email
    /// it is accepts with `acceptInvitation` within 7 days. Inviting the same address again
    /// replaces the earlier invitation.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> Result<Invitation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let config = ctx.data_unchecked::<AuthConfig>();
        let mailer = ctx.data_unchecked::<Mailer>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&input.organization_id, "organization")?;
        tenancy(ctx).require_allowed_in(organization_id).await?;
        // Letters carry an organization's name: nobody may flood an address with them.
        config
            .limiter
            .mail(&users::normalize_email(&input.email)?)
            .await?;
        let (invited, token) = invitations::invite(
            db,
            &mailer.limits,
            actor,
            organization_id,
            &input.email,
            input.role,
            Entry::by(ctx, "invitation.created"),
        )
        .await?;
        let (organization, inviter) = invitations::letter_names(db, &invited).await?;
        let role = crate::entity::membership::role_name(invited.role);
        mailer
            .send(
                &invited.email,
                mailer.invitation(&organization, &inviter, role, &token),
            )
            .await;
        Ok(Invitation(invited))
    }

    /// Withdraws a pending invitation (owners and admins).
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "invitation.revoked");
        let id = parse_id(&id, "invitation")?;
        if let Some(invitation) = crate::entity::invitation::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(internal)?
        {
            tenancy(ctx)
                .require_allowed_in(invitation.organization_id)
                .await?;
        }
        invitations::revoke(db, actor, id, audit)
            .await
            .map(Invitation)
    }

    /// Joins the organization an invitation is for. Your email must be the invited address, and
    /// verified.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> Result<Membership> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "invitation.accepted");
        invitations::accept(db, user, &token, audit)
            .await
            .map(Membership)
    }
}
