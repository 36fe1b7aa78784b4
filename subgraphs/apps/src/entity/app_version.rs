use nexus_kit::loader::ChildRelation;
use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, async_graphql::Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AppVersionStatus {
    /// Passed every automatic check; waits for a platform admin.
    #[sea_orm(string_value = "in_review")]
    InReview,
    /// Failed a check, or a reviewer said no.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// Live: part of the published supergraph.
    #[sea_orm(string_value = "approved")]
    Approved,
    /// Was live; a newer approved version replaced it.
    #[sea_orm(string_value = "superseded")]
    Superseded,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub app_id: Uuid,
    pub version: String,
    pub manifest: Json,
    pub subgraph_url: String,
    pub sdl: Option<String>,
    pub status: AppVersionStatus,
    /// `[SubmissionError]` as JSON.
    pub errors: Json,
    pub submitted_by: Uuid,
    pub reviewed_by: Option<Uuid>,
    pub review_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub reviewed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

nexus_kit::keyed_by_id!();

/// `App.versions`
pub struct ByApp;

impl ChildRelation for ByApp {
    type Entity = Entity;
    fn parent_column() -> Column {
        Column::AppId
    }
    fn parent_of(model: &Model) -> Uuid {
        model.app_id
    }
}
