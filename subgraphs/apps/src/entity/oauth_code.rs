use sea_orm::entity::prelude::*;

/// An authorization code (its SHA-256): single use, short-lived, bound to the redirect URI and
/// the PKCE challenge it was issued with.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub authorization_id: Uuid,
    pub redirect_uri: String,
    /// JSON array of the scopes the tokens get.
    pub scopes: Json,
    /// BASE64URL(SHA-256(code_verifier)).
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub auth_time: DateTimeUtc,
    /// The sign-in behind it proved a second factor (its tokens carry `amr`).
    pub two_factor: bool,
    /// The account's session epoch when the user signed in for it.
    pub session_epoch: i64,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    /// The grant its redemption created: revoked if the code is presented again.
    pub grant_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

impl Model {
    pub fn scopes(&self) -> Vec<String> {
        serde_json::from_value(self.scopes.clone()).unwrap_or_default()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
