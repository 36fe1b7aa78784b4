use sea_orm::entity::prelude::*;

/// What a user consented to for an app in an organization; revoked by the user, or when the
/// installation ends.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub app_id: Uuid,
    pub organization_id: Uuid,
    pub installation_id: Uuid,
    /// JSON array: the user's OpenID scopes and the installation's scopes consented to.
    pub scopes: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

impl Model {
    pub fn scopes(&self) -> Vec<String> {
        serde_json::from_value(self.scopes.clone()).unwrap_or_default()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
