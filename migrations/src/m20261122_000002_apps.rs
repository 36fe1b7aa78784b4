//! Owner: apps. Apps and their installations into organizations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    Namespace,
    Name,
    Description,
    Category,
    DeveloperId,
    Status,
    PricingModel,
    PriceCents,
    Currency,
    TrialDays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Installations {
    Table,
    Id,
    AppId,
    OrganizationId,
    InstalledBy,
    Status,
    GrantedScopes,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Apps::Table)
                    .col(uuid(Apps::Id).primary_key())
                    .col(string_len_uniq(Apps::Namespace, 32))
                    .col(string_len(Apps::Name, 200))
                    .col(text(Apps::Description))
                    .col(string_len(Apps::Category, 64))
                    // A user id of the identity subgraph: referenced, never joined.
                    .col(uuid(Apps::DeveloperId))
                    .col(string_len(Apps::Status, 16))
                    .col(string_len(Apps::PricingModel, 16))
                    .col(big_integer_null(Apps::PriceCents))
                    .col(string_len_null(Apps::Currency, 3))
                    .col(integer_null(Apps::TrialDays))
                    .col(timestamp_with_time_zone(Apps::CreatedAt))
                    .col(timestamp_with_time_zone(Apps::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Installations::Table)
                    .col(uuid(Installations::Id).primary_key())
                    .col(uuid(Installations::AppId))
                    .col(uuid(Installations::OrganizationId))
                    .col(uuid(Installations::InstalledBy))
                    .col(string_len(Installations::Status, 16))
                    .col(json(Installations::GrantedScopes))
                    .col(timestamp_with_time_zone(Installations::CreatedAt))
                    .col(timestamp_with_time_zone(Installations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Installations::Table, Installations::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("installations_organization")
                    .table(Installations::Table)
                    .col(Installations::OrganizationId)
                    .to_owned(),
            )
            .await?;
        // At most one live installation per app and organization; uninstalled ones are history.
        // A partial index, written the same for SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX installations_live_app_organization \
                 ON installations (app_id, organization_id) WHERE status <> 'uninstalled'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Installations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Apps::Table).to_owned())
            .await
    }
}
