use nexus_kit::loader::ChildRelation;
use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, async_graphql::Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    #[sea_orm(string_value = "owner")]
    Owner,
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "member")]
    Member,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

nexus_kit::keyed_by_id!();

/// `Organization.members`
pub struct ByOrganization;

impl ChildRelation for ByOrganization {
    type Entity = Entity;
    fn parent_column() -> Column {
        Column::OrganizationId
    }
    fn parent_of(model: &Model) -> Uuid {
        model.organization_id
    }
}

/// `User.memberships`
pub struct ByUser;

impl ChildRelation for ByUser {
    type Entity = Entity;
    fn parent_column() -> Column {
        Column::UserId
    }
    fn parent_of(model: &Model) -> Uuid {
        model.user_id
    }
}

/// The role as tokens, audit details and the internal lookups name it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}
