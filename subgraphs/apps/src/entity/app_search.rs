//! The store's full-text document of each app (`crate::search`); the database indexes it (a
//! generated `tsvector` on PostgreSQL, an FTS5 table kept by triggers on SQLite).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_search")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: Uuid,
    pub name: String,
    /// Space-separated.
    pub tags: String,
    pub tagline: String,
    /// The description as plain text.
    pub body: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
