use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;

use super::types::{Membership, Organization, User};
use crate::entity::membership::Role;
use crate::service;

#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub name: String,
    pub avatar_url: Option<String>,
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    /// 2 to 64 lowercase letters, digits and single dashes; unique.
    pub slug: String,
}

#[derive(InputObject)]
pub struct AddMembershipInput {
    pub organization_id: ID,
    pub user_id: ID,
    pub role: Role,
}

pub struct Mutation;

#[Object]
impl Mutation {
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        service::create_user(db, &input.email, &input.name, input.avatar_url)
            .await
            .map(User)
    }

    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> Result<Organization> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        service::create_organization(db, &input.name, &input.slug)
            .await
            .map(Organization)
    }

    async fn add_membership(
        &self,
        ctx: &Context<'_>,
        input: AddMembershipInput,
    ) -> Result<Membership> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let organization_id = parse_id(&input.organization_id, "organization")?;
        let user_id = parse_id(&input.user_id, "user")?;
        service::add_membership(db, organization_id, user_id, input.role)
            .await
            .map(Membership)
    }
}
