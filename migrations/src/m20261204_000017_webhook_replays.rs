//! Owner: apps. A replay of an app's webhooks is limited per app (`replayed_at`, claimed by a
//! conditional write), and reads only the app's own rows: installations by app, outbox events by
//! organization or app and time.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    ReplayedAt,
}

#[derive(DeriveIden)]
enum Installations {
    Table,
    AppId,
    Status,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    OrganizationId,
    AppId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEndpoints::Table)
                    .add_column(timestamp_with_time_zone_null(WebhookEndpoints::ReplayedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("installations_by_app")
                    .table(Installations::Table)
                    .col(Installations::AppId)
                    .col(Installations::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_events_by_organization")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::OrganizationId)
                    .col(OutboxEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_events_by_app")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::AppId)
                    .col(OutboxEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("outbox_events_by_app", OutboxEvents::Table.into_iden()),
            (
                "outbox_events_by_organization",
                OutboxEvents::Table.into_iden(),
            ),
            ("installations_by_app", Installations::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEndpoints::Table)
                    .drop_column(WebhookEndpoints::ReplayedAt)
                    .to_owned(),
            )
            .await
    }
}
