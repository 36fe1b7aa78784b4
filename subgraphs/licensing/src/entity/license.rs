use nexus_kit::loader::ChildRelation;
use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, async_graphql::Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LicenseKind {
    #[sea_orm(string_value = "free")]
    Free,
    #[sea_orm(string_value = "purchase")]
    Purchase,
    #[sea_orm(string_value = "subscription")]
    Subscription,
    #[sea_orm(string_value = "trial")]
    Trial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, async_graphql::Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LicenseStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "suspended")]
    Suspended,
    #[sea_orm(string_value = "expired")]
    Expired,
    #[sea_orm(string_value = "revoked")]
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "licenses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub app_id: Uuid,
    pub organization_id: Uuid,
    pub kind: LicenseKind,
    pub status: LicenseStatus,
    pub max_activations: i32,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// SHA-256 (hex) of the normalized key.
    pub key_hash: Option<String>,
    pub key_last4: Option<String>,
    /// A JSON list of strings.
    pub entitlements: Option<Json>,
    /// Live activations; raised only while below `max_activations` (see `activations`).
    pub activation_count: i32,
    pub app_namespace: Option<String>,
    pub developer_id: Option<Uuid>,
    pub issued_by: Option<Uuid>,
    pub status_reason: Option<String>,
    /// The `expires_at` whose passing was announced (`license.expired`), see `expiry`.
    pub expiry_announced_for: Option<DateTimeUtc>,
}

impl Model {
    /// The status as of `now`: an active license past `expires_at` is expired.
    pub fn status_at(&self, now: DateTimeUtc) -> LicenseStatus {
        match self.status {
            LicenseStatus::Active if self.expires_at.is_some_and(|at| at <= now) => {
                LicenseStatus::Expired
            }
            status => status,
        }
    }

    pub fn entitlements(&self) -> Vec<String> {
        self.entitlements
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

nexus_kit::keyed_by_id!();

/// `Organization.licenses`
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
