//! Owner: apps. Submitted app versions and the supergraph versions published from them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AppVersions {
    Table,
    Id,
    AppId,
    Version,
    Manifest,
    SubgraphUrl,
    Sdl,
    Status,
    Errors,
    SubmittedBy,
    ReviewedBy,
    ReviewReason,
    CreatedAt,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum SupergraphVersions {
    Table,
    Id,
    Sdl,
    Sha256,
    Subgraphs,
    CreatedBy,
    Reason,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppVersions::Table)
                    .col(uuid(AppVersions::Id).primary_key())
                    .col(uuid(AppVersions::AppId))
                    .col(string_len(AppVersions::Version, 64))
                    .col(json(AppVersions::Manifest))
                    .col(string_len(AppVersions::SubgraphUrl, 2048))
                    .col(text_null(AppVersions::Sdl))
                    .col(string_len(AppVersions::Status, 16))
                    .col(json(AppVersions::Errors))
                    .col(uuid(AppVersions::SubmittedBy))
                    .col(uuid_null(AppVersions::ReviewedBy))
                    .col(text_null(AppVersions::ReviewReason))
                    .col(timestamp_with_time_zone(AppVersions::CreatedAt))
                    .col(timestamp_with_time_zone_null(AppVersions::ReviewedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AppVersions::Table, AppVersions::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("app_versions_app_version")
                    .table(AppVersions::Table)
                    .col(AppVersions::AppId)
                    .col(AppVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SupergraphVersions::Table)
                    .col(uuid(SupergraphVersions::Id).primary_key())
                    .col(text(SupergraphVersions::Sdl))
                    .col(string_len(SupergraphVersions::Sha256, 64))
                    // [{name, url, app_version_id}] of the subgraphs composed.
                    .col(json(SupergraphVersions::Subgraphs))
                    .col(uuid_null(SupergraphVersions::CreatedBy))
                    // Why it was published: an approval, a suspension, a rollback.
                    .col(text(SupergraphVersions::Reason))
                    .col(timestamp_with_time_zone(SupergraphVersions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SupergraphVersions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AppVersions::Table).to_owned())
            .await
    }
}
