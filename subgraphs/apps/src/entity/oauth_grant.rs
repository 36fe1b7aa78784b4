use sea_orm::entity::prelude::*;

/// The tokens one redeemed code led to (access tokens carry its id as `gid`, refresh tokens
/// belong to it): revoking it ends them all.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub authorization_id: Uuid,
    /// JSON array of the scopes its tokens carry.
    pub scopes: Json,
    /// When the user signed in for it (the id_token's `auth_time`).
    pub auth_time: DateTimeUtc,
    /// The sign-in behind it proved a second factor (its tokens carry `amr`).
    pub two_factor: bool,
    /// The account's session epoch when the user signed in for it: revoked when it ends.
    pub session_epoch: i64,
    pub created_at: DateTimeUtc,
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
