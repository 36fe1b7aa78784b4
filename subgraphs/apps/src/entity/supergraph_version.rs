use nexus_kit::loader::Keyed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "supergraph_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub sdl: String,
    pub sha256: String,
    /// `[{name, url, app_version_id}]`
    pub subgraphs: Json,
    pub created_by: Option<Uuid>,
    pub reason: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Keyed for Entity {
    fn id_column() -> Column {
        Column::Id
    }
    fn id_of(model: &Model) -> Uuid {
        model.id
    }
}
