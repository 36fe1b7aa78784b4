//! Owner: licensing. Which expiry of a license was announced (`license.expired`): a renewed
//! license that runs out again is announced again, and none twice.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Licenses {
    Table,
    Status,
    ExpiresAt,
    ExpiryAnnouncedFor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Licenses::Table)
                    .add_column(timestamp_with_time_zone_null(Licenses::ExpiryAnnouncedFor))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("licenses_expiring")
                    .table(Licenses::Table)
                    .col(Licenses::Status)
                    .col(Licenses::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("licenses_expiring").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Licenses::Table)
                    .drop_column(Licenses::ExpiryAnnouncedFor)
                    .to_owned(),
            )
            .await
    }
}
