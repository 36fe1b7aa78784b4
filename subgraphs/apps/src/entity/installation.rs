use nexus_kit::loader::ChildRelation;
use sea_orm::Condition;
use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, async_graphql::Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum InstallationStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "suspended")]
    Suspended,
    #[sea_orm(string_value = "uninstalled")]
    Uninstalled,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "installations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub app_id: Uuid,
    pub organization_id: Uuid,
    pub installed_by: Uuid,
    pub status: InstallationStatus,
    /// JSON array of scope names.
    pub granted_scopes: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    pub fn scopes(&self) -> Vec<String> {
        serde_json::from_value(self.granted_scopes.clone()).unwrap_or_default()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

nexus_kit::keyed_by_id!();

/// `Organization.installations`: live installations (uninstalled ones are history).
pub struct LiveByOrganization;

impl ChildRelation for LiveByOrganization {
    type Entity = Entity;
    fn parent_column() -> Column {
        Column::OrganizationId
    }
    fn parent_of(model: &Model) -> Uuid {
        model.organization_id
    }
    fn filter() -> Condition {
        Condition::all().add(Column::Status.ne(InstallationStatus::Uninstalled))
    }
}
