use nexus_kit::loader::{ChildRelation, Keyed};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub license_id: Uuid,
    pub fingerprint: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Keyed for Entity {
    fn id_column() -> Column {
        Column::Id
    }
    fn id_of(model: &Model) -> Uuid {
        model.id
    }
}

/// `License.activations`
pub struct ByLicense;

impl ChildRelation for ByLicense {
    type Entity = Entity;
    fn parent_column() -> Column {
        Column::LicenseId
    }
    fn parent_of(model: &Model) -> Uuid {
        model.license_id
    }
}
