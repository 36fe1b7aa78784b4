use async_graphql::connection::Connection;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::error::{bad_input, internal};
use nexus_kit::id::parse_id;
use nexus_kit::loader::load;
use nexus_kit::page::{PageArgs, fetch_page};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::types::{Membership, Organization, User};
use crate::accounts::session;
use crate::entity::{membership, organization, user};
use crate::organizations;
use crate::tenancy::{VisibleUsers, require_signed_in, tenancy};

pub struct Query;

/// A user if the caller may see them.
async fn visible_user(ctx: &Context<'_>, id: Uuid) -> Result<Option<User>> {
    let visible = ctx
        .data_unchecked::<DataLoader<VisibleUsers>>()
        .load_one(id)
        .await?
        .unwrap_or(false);
    if !visible {
        return Ok(None);
    }
    Ok(load::<user::Entity>(ctx, id).await?.map(User))
}

/// An organization if the caller may read it.
async fn readable_organization(
    ctx: &Context<'_>,
    model: Option<organization::Model>,
) -> Result<Option<Organization>> {
    match model {
        Some(org) if tenancy(ctx).can_read_organization(org.id).await? => {
            Ok(Some(Organization(org)))
        }
        _ => Ok(None),
    }
}

#[Object]
impl Query {
    /// Who did what, newest first: sign-ins, password and two-factor changes, roles,
    /// invitations, API keys, installations, app reviews, licenses, supergraph publishes. An
    /// organization's owners and admins read its entries; platform administrators read all.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<super::audit::AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, super::audit::AuditEntry>> {
        super::audit::audit_log(ctx, filter.unwrap_or_default(), first, after).await
    }

    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let id = caller(ctx).require_user()?;
        load::<user::Entity>(ctx, id)
            .await?
            .map(User)
            .ok_or_else(|| nexus_kit::Code::Unauthenticated.error("this account no longer exists"))
    }

    /// Where you are signed in: one entry per session (a login and its refreshes), oldest first.
    async fn my_sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, SignedInSession>> {
        let principal = caller(ctx).require()?;
        let user = caller(ctx).require_user()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let args = PageArgs::parse(first, after)?;
        let page = session::live(db, user, &args).await?;
        let started =
            session::started(db, page.items.iter().map(|t| t.family_id).collect()).await?;
        let current = principal.claims.session();
        Ok(page.into_connection(
            |t| t.id,
            |t| SignedInSession {
                current: current == Some(t.family_id),
                signed_in_at: started.get(&t.family_id).copied().unwrap_or(t.created_at),
                token: t,
            },
        ))
    }

    /// A user you share an organization with (or yourself); null otherwise.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        require_signed_in(ctx)?;
        let id = parse_id(&id, "user")?;
        visible_user(ctx, id).await
    }

    /// One of your organizations by `id` or by `slug` (exactly one); null otherwise.
    async fn organization(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        slug: Option<String>,
    ) -> Result<Option<Organization>> {
        require_signed_in(ctx)?;
        let model = match (id, slug) {
            (Some(id), None) => {
                let id = parse_id(&id, "organization")?;
                load::<organization::Entity>(ctx, id).await?
            }
            (None, Some(slug)) => {
                let db = ctx.data_unchecked::<DatabaseConnection>();
                organizations::find_organization_by_slug(db, &slug).await?
            }
            _ => return Err(bad_input("give exactly one of `id` and `slug`")),
        };
        readable_organization(ctx, model).await
    }

    /// Your organizations (every organization, for platform admins), oldest first.
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Organization>> {
        require_signed_in(ctx)?;
        let args = PageArgs::parse(first, after)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let mut select = organization::Entity::find();
        if !caller(ctx).is_platform_admin() {
            let tenancy = tenancy(ctx);
            tenancy.require_scope("organizations:read")?;
            let mine: Vec<Uuid> = tenancy.organizations().await?.keys().copied().collect();
            select = select.filter(organization::Column::Id.is_in(mine));
        }
        let page = fetch_page(db, select, organization::Column::Id, &args)
            .await
            .map_err(internal)?;
        Ok(page.into_connection(|o| o.id, Organization))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let id = parse_id(&id, "user")?;
        visible_user(ctx, id).await
    }

    #[graphql(entity)]
    async fn find_organization_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<Organization>> {
        let id = parse_id(&id, "organization")?;
        let model = load::<organization::Entity>(ctx, id).await?;
        readable_organization(ctx, model).await
    }

    #[graphql(entity)]
    async fn find_membership_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Membership>> {
        let id = parse_id(&id, "membership")?;
        match load::<membership::Entity>(ctx, id).await? {
            Some(m)
                if tenancy(ctx)
                    .can_read_organization(m.organization_id)
                    .await? =>
            {
                Ok(Some(Membership(m)))
            }
            _ => Ok(None),
        }
    }
}

/// One place you are signed in.
pub struct SignedInSession {
    token: crate::entity::refresh_token::Model,
    signed_in_at: chrono::DateTime<chrono::Utc>,
    current: bool,
}

#[Object(name = "Session")]
impl SignedInSession {
    /// Give it to `revokeSession` to sign that place out.
    async fn id(&self) -> ID {
        nexus_kit::id::to_id(self.token.family_id)
    }

    /// The browser or app, as its `User-Agent` said.
    async fn user_agent(&self) -> Option<&str> {
        self.token.user_agent.as_deref()
    }

    /// The client's address at sign-in.
    async fn address(&self) -> Option<&str> {
        self.token.address.as_deref()
    }

    async fn signed_in_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.signed_in_at
    }

    /// When its refresh token was last traded (or the sign-in, if never).
    async fn last_used_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.token.created_at
    }

    /// Whether it is the session this request comes from.
    async fn current(&self) -> bool {
        self.current
    }
}
