use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::error::internal;
use nexus_kit::id::to_id;
use nexus_kit::loader::{load, load_children};
use nexus_kit::page::PageArgs;

use crate::entity::membership::{self, Role};
use crate::entity::{organization, user};

pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Normalized to lowercase.
    async fn email(&self) -> &str {
        &self.0.email
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

    /// The organizations this user belongs to, oldest membership first.
    async fn memberships(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Membership>> {
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<membership::ByUser>(ctx, self.0.id, args).await?;
        Ok(page.into_connection(|m| m.id, Membership))
    }
}

pub struct Organization(pub organization::Model);

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        to_id(self.0.id)
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
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<membership::ByOrganization>(ctx, self.0.id, args).await?;
        Ok(page.into_connection(|m| m.id, Membership))
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
