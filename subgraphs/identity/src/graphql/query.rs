use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use nexus_kit::Result;
use nexus_kit::error::{bad_input, internal};
use nexus_kit::id::parse_id;
use nexus_kit::loader::load;
use nexus_kit::page::{PageArgs, fetch_page};
use sea_orm::{DatabaseConnection, EntityTrait};

use super::types::{Membership, Organization, User};
use crate::entity::{membership, organization, user};
use crate::service;

pub struct Query;

#[Object]
impl Query {
    /// A user by id; null when there is none.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let id = parse_id(&id, "user")?;
        Ok(load::<user::Entity>(ctx, id).await?.map(User))
    }

    /// An organization by `id` or by `slug` (exactly one); null when there is none.
    async fn organization(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        slug: Option<String>,
    ) -> Result<Option<Organization>> {
        match (id, slug) {
            (Some(id), None) => {
                let id = parse_id(&id, "organization")?;
                Ok(load::<organization::Entity>(ctx, id)
                    .await?
                    .map(Organization))
            }
            (None, Some(slug)) => {
                let db = ctx.data_unchecked::<DatabaseConnection>();
                Ok(service::find_organization_by_slug(db, &slug)
                    .await?
                    .map(Organization))
            }
            _ => Err(bad_input("give exactly one of `id` and `slug`")),
        }
    }

    /// All organizations, oldest first.
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Organization>> {
        let args = PageArgs::parse(first, after)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let page = fetch_page(
            db,
            organization::Entity::find(),
            organization::Column::Id,
            &args,
        )
        .await
        .map_err(internal)?;
        Ok(page.into_connection(|o| o.id, Organization))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        self.user(ctx, id).await
    }

    #[graphql(entity)]
    async fn find_organization_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<Organization>> {
        let id = parse_id(&id, "organization")?;
        Ok(load::<organization::Entity>(ctx, id)
            .await?
            .map(Organization))
    }

    #[graphql(entity)]
    async fn find_membership_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Membership>> {
        let id = parse_id(&id, "membership")?;
        Ok(load::<membership::Entity>(ctx, id).await?.map(Membership))
    }
}
