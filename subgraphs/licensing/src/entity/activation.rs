use nexus_kit::loader::ChildRelation;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub license_id: Uuid,
    pub fingerprint: String,
    /// What the app calls the machine or instance.
    pub name: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

nexus_kit::keyed_by_id!();

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
