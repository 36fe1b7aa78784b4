use sea_orm::entity::prelude::*;

/// An account's authenticator (TOTP) secret; it signs nobody in until a code confirmed it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "two_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Base32.
    pub secret: String,
    pub confirmed_at: Option<DateTimeUtc>,
    /// The newest time step a code was accepted for; older and equal steps are refused.
    pub last_step: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
