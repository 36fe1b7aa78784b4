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
        // Licenses that ran out before this migration are not news: mark them announced, or the
        // first start would send `license.expired` for every one of them at once.
        let now =
            sea_orm_migration::sea_orm::prelude::DateTimeUtc::from(std::time::SystemTime::now());
        manager
            .exec_stmt(
                Query::update()
                    .table(Licenses::Table)
                    .value(Licenses::ExpiryAnnouncedFor, Expr::col(Licenses::ExpiresAt))
                    .and_where(Expr::col(Licenses::ExpiresAt).lte(now))
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
