use nexus_kit::loader::ChildRelation;
use sea_orm::Condition;
use sea_orm::entity::prelude::*;

use super::membership::Role;

/// An invitation to join an organization, mailed to an address; accepted once, by a signed-in
/// user whose verified email is that address.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Uuid,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub expires_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
    pub accepted_by: Option<Uuid>,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

nexus_kit::keyed_by_id!();

/// An organization's invitations still waiting for an answer.
pub struct PendingByOrganization;

impl ChildRelation for PendingByOrganization {
    type Entity = Entity;
    fn parent_column() -> Column {
        Column::OrganizationId
    }
    fn parent_of(model: &Model) -> Uuid {
        model.organization_id
    }
    fn filter() -> Condition {
        Condition::all()
            .add(Column::AcceptedAt.is_null())
            .add(Column::RevokedAt.is_null())
            .add(Column::ExpiresAt.gt(chrono::Utc::now()))
    }
}
