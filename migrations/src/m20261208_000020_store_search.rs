//! Owner: apps. The store's full-text index: one document per app (`app_search`: name, tags,
//! tagline, and the description as plain text), ranked by the database's own full-text search —
//! PostgreSQL: a weighted `tsvector` (name A, tags B, tagline C, description D) with a GIN index;
//! SQLite: an FTS5 table over the same columns, kept in step by triggers. Filled for every app.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    Name,
    Description,
}

#[derive(DeriveIden)]
enum AppSearch {
    Table,
    AppId,
    Name,
    Tags,
    Tagline,
    Body,
    UpdatedAt,
}

const POSTGRES: &[&str] = &[
    "ALTER TABLE app_search ADD COLUMN document tsvector GENERATED ALWAYS AS (\
       setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', tags), 'B') || \
       setweight(to_tsvector('simple', tagline), 'C') || setweight(to_tsvector('simple', body), 'D')) STORED",
    "CREATE INDEX app_search_document ON app_search USING GIN (document)",
];

const SQLITE: &[&str] = &[
    "CREATE VIRTUAL TABLE app_search_fts USING fts5(name, tags, tagline, body, \
       content='app_search', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER app_search_inserted AFTER INSERT ON app_search BEGIN \
       INSERT INTO app_search_fts(rowid, name, tags, tagline, body) VALUES (new.rowid, new.name, new.tags, new.tagline, new.body); END",
    "CREATE TRIGGER app_search_deleted AFTER DELETE ON app_search BEGIN \
       INSERT INTO app_search_fts(app_search_fts, rowid, name, tags, tagline, body) VALUES ('delete', old.rowid, old.name, old.tags, old.tagline, old.body); END",
    "CREATE TRIGGER app_search_updated AFTER UPDATE ON app_search BEGIN \
       INSERT INTO app_search_fts(app_search_fts, rowid, name, tags, tagline, body) VALUES ('delete', old.rowid, old.name, old.tags, old.tagline, old.body); \
       INSERT INTO app_search_fts(rowid, name, tags, tagline, body) VALUES (new.rowid, new.name, new.tags, new.tagline, new.body); END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppSearch::Table)
                    .col(uuid(AppSearch::AppId).primary_key())
                    .col(text(AppSearch::Name))
                    .col(text(AppSearch::Tags))
                    .col(text(AppSearch::Tagline))
                    .col(text(AppSearch::Body))
                    .col(timestamp_with_time_zone(AppSearch::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AppSearch::Table, AppSearch::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The vocabulary's generation: the newest document (`search::vocabulary`).
        manager
            .create_index(
                Index::create()
                    .name("app_search_by_update")
                    .table(AppSearch::Table)
                    .col(AppSearch::UpdatedAt)
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        let native = match backend {
            DbBackend::Postgres => POSTGRES,
            DbBackend::Sqlite => SQLITE,
            DbBackend::MySql => &[],
        };
        for sql in native {
            manager
                .get_connection()
                .execute(Statement::from_string(backend, *sql))
                .await?;
        }
        // Every app, as it is listed now (tags and tagline come with its next approval; the
        // description is indexed as written until then).
        let backfill = Query::insert()
            .into_table(AppSearch::Table)
            .columns([
                AppSearch::AppId,
                AppSearch::Name,
                AppSearch::Tags,
                AppSearch::Tagline,
                AppSearch::Body,
                AppSearch::UpdatedAt,
            ])
            .select_from(
                Query::select()
                    .column(Apps::Id)
                    .column(Apps::Name)
                    .expr(Expr::val(""))
                    .expr(Expr::val(""))
                    .column(Apps::Description)
                    .expr(Expr::current_timestamp())
                    .from(Apps::Table)
                    .to_owned(),
            )
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(backfill).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        if backend == DbBackend::Sqlite {
            manager
                .get_connection()
                .execute(Statement::from_string(backend, "DROP TABLE app_search_fts"))
                .await?;
        }
        manager
            .drop_table(Table::drop().table(AppSearch::Table).to_owned())
            .await
    }
}
