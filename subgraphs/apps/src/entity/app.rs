use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, async_graphql::Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AppStatus {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "in_review")]
    InReview,
    #[sea_orm(string_value = "published")]
    Published,
    #[sea_orm(string_value = "rejected")]
    Rejected,
    #[sea_orm(string_value = "suspended")]
    Suspended,
}

// The manifest's: one enum for the manifest, this column and the graph.
pub use nexus_registry::manifest::PricingModel;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub namespace: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub developer_id: Uuid,
    pub status: AppStatus,
    pub pricing_model: PricingModel,
    /// In minor units of `currency` (cents).
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub trial_days: Option<i32>,
    /// How the store shows the app, from its approved manifest (`crate::listing::StoreListing`).
    pub listing: Option<Json>,
    /// What its live version can touch (`nexus_registry::access::Access`); none before one.
    pub access: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

nexus_kit::keyed_by_id!();
