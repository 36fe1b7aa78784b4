//! Owner: apps. Each app's client secret, for installation tokens (client credentials).

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
enum AppCredentials {
    Table,
    AppId,
    SecretHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppCredentials::Table)
                    .col(uuid(AppCredentials::AppId).primary_key())
                    // SHA-256 of a 256-bit random secret.
                    .col(string_len(AppCredentials::SecretHash, 64))
                    .col(timestamp_with_time_zone(AppCredentials::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AppCredentials::Table, AppCredentials::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AppCredentials::Table).to_owned())
            .await
    }
}
