use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal};
use nexus_kit::id::to_id;
use nexus_kit::loader::{load, load_children};
use nexus_kit::page::PageArgs;
use nexus_kit::page::fetch_page;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::entity::membership::{self, Role};
use crate::entity::{api_key, invitation, organization, user};
use crate::tenancy::tenancy;

pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Normalized to lowercase. API keys need the `users:read` scope.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        if let Err(refused) = tenancy(ctx).require_scope("users:read") {
            // Null with an error on this field alone; the user stays readable.
            ctx.add_error(ctx.set_error_path(refused.into_server_error(ctx.item.pos)));
            return Ok(None);
        }
        Ok(Some(&self.0.email))
    }

    /// Whether the user proved they receive mail at their address (invitations need it).
    async fn email_verified(&self) -> bool {
        self.0.email_verified_at.is_some()
    }

    /// Whether signing in needs a second factor (an authenticator code). Only for the user
    /// themselves (and platform admins); null for anyone else.
    async fn two_factor_enabled(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        if !self.seen_by_self_or_admin(ctx) {
            return Ok(None);
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(Some(
            crate::accounts::two_factor::enabled(db, self.0.id)
                .await?
                .is_some(),
        ))
    }

    /// Unused recovery codes left (0 without two-factor sign-in). Only for the user themselves.
    async fn recovery_codes_left(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        if caller(ctx).user_id() != Some(self.0.id) {
            return Ok(None);
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let left = crate::accounts::two_factor::recovery_codes_left(db, self.0.id).await?;
        Ok(Some(left.min(i32::MAX as u64) as i32))
    }

    /// Platform administrators approve apps and can read every organization.
    async fn is_platform_admin(&self) -> bool {
        self.0.is_platform_admin
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The organizations this user belongs to, oldest membership first. Only for the user
    /// themselves (and platform admins).
    async fn memberships(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, Membership>>> {
        let caller = caller(ctx);
        if caller.user_id() != Some(self.0.id) && !caller.is_platform_admin() {
            return Err(
                Code::Forbidden.error("only the user themselves can list their memberships")
            );
        }
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<membership::ByUser>(ctx, self.0.id, args).await?;
        Ok(Some(page.into_connection(|m| m.id, Membership)))
    }
}

impl User {
    fn seen_by_self_or_admin(&self, ctx: &Context<'_>) -> bool {
        let caller = caller(ctx);
        caller.user_id() == Some(self.0.id) || caller.is_platform_admin()
    }
}

pub struct Organization(pub organization::Model);

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Members act in it only with a session signed in with a second factor
    /// (`requireTwoFactor`).
    async fn require_two_factor(&self) -> bool {
        self.0.require_two_factor
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Unique, URL-safe handle: `organization(slug: …)`.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Members, oldest first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Membership>> {
        // Reached through one's own memberships too: a session without the second factor an
        // organization requires does not read who is in it. (Platform admins read every
        // organization, as members or not.)
        if !caller(ctx).is_platform_admin() {
            tenancy(ctx).require_allowed_in(self.0.id).await?;
        }
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<membership::ByOrganization>(ctx, self.0.id, args).await?;
        Ok(page.into_connection(|m| m.id, Membership))
    }

    /// The organization's API keys (owners and admins only); secrets are never shown again.
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, ApiKey>>> {
        let role = tenancy(ctx).organizations().await?.get(&self.0.id).copied();
        if !matches!(role, Some(Role::Owner | Role::Admin)) || caller(ctx).user_id().is_none() {
            return Err(Code::Forbidden
                .error("only the organization's owners and admins can list its API keys"));
        }
        let args = PageArgs::parse(first, after)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let select = api_key::Entity::find().filter(api_key::Column::OrganizationId.eq(self.0.id));
        let page = fetch_page(db, select, api_key::Column::Id, &args)
            .await
            .map_err(internal)?;
        Ok(Some(page.into_connection(|k| k.id, ApiKey)))
    }

    /// Invitations waiting for an answer, oldest first (owners and admins only).
    async fn pending_invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Invitation>> {
        let role = tenancy(ctx).organizations().await?.get(&self.0.id).copied();
        if !matches!(role, Some(Role::Owner | Role::Admin)) || caller(ctx).user_id().is_none() {
            return Err(Code::Forbidden
                .error("only the organization's owners and admins can see its invitations"));
        }
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<invitation::PendingByOrganization>(ctx, self.0.id, args).await?;
        Ok(page.into_connection(|i| i.id, Invitation))
    }
}

pub struct ApiKey(pub api_key::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The first characters of the key, to tell keys apart.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    async fn scopes(&self) -> Vec<String> {
        self.0.scopes()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }

    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
}

pub struct Membership(pub membership::Model);

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn role(&self) -> Role {
        self.0.role
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        load::<user::Entity>(ctx, self.0.user_id)
            .await?
            .map(User)
            .ok_or_else(|| internal(sea_orm::DbErr::RecordNotFound("membership user".into())))
    }

    async fn organization(&self, ctx: &Context<'_>) -> Result<Organization> {
        load::<organization::Entity>(ctx, self.0.organization_id)
            .await?
            .map(Organization)
            .ok_or_else(|| {
                internal(sea_orm::DbErr::RecordNotFound(
                    "membership organization".into(),
                ))
            })
    }
}

/// An invitation to join an organization, waiting for its answer.
pub struct Invitation(pub invitation::Model);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn role(&self) -> Role {
        self.0.role
    }

    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        Ok(load::<organization::Entity>(ctx, self.0.organization_id)
            .await?
            .map(Organization))
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
