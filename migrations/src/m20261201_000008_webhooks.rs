//! Owners: every service appends to `outbox_events` in the transaction of the change it records
//! (the one table written by more than one service); the apps service drains it into webhook
//! deliveries and owns the other tables here.

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
enum OutboxEvents {
    Table,
    Id,
    Source,
    EventType,
    OrganizationId,
    AppId,
    Data,
    CreatedAt,
    DispatchedAt,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    AppId,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    FailingSince,
    DisabledAt,
    DisabledReason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EventId,
    AppId,
    OrganizationId,
    InstallationId,
    EventType,
    Sequence,
    Body,
    Status,
    Attempts,
    NextAttemptAt,
    LeasedUntil,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    AttemptedAt,
    StatusCode,
    LatencyMs,
    ResponseExcerpt,
    Error,
}

#[derive(DeriveIden)]
enum WebhookSequences {
    Table,
    AppId,
    OrganizationId,
    Last,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .col(uuid(OutboxEvents::Id).primary_key())
                    .col(string_len(OutboxEvents::Source, 32))
                    .col(string_len(OutboxEvents::EventType, 64))
                    .col(uuid_null(OutboxEvents::OrganizationId))
                    .col(uuid_null(OutboxEvents::AppId))
                    .col(json_binary(OutboxEvents::Data))
                    .col(timestamp_with_time_zone(OutboxEvents::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboxEvents::DispatchedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_events_pending")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::DispatchedAt)
                    .col(OutboxEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(uuid(WebhookEndpoints::AppId).primary_key())
                    // `whsec_` + base64 of 32 random bytes: HMAC needs the secret itself.
                    .col(string_len(WebhookEndpoints::Secret, 128))
                    .col(string_len_null(WebhookEndpoints::PreviousSecret, 128))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::PreviousSecretUntil,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::FailingSince,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::DisabledAt))
                    .col(text_null(WebhookEndpoints::DisabledReason))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookEndpoints::Table, WebhookEndpoints::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::EventId))
                    .col(uuid(WebhookDeliveries::AppId))
                    .col(uuid_null(WebhookDeliveries::OrganizationId))
                    .col(uuid_null(WebhookDeliveries::InstallationId))
                    .col(string_len(WebhookDeliveries::EventType, 64))
                    .col(big_integer(WebhookDeliveries::Sequence))
                    // The exact bytes signed and sent, the same on every attempt.
                    .col(text(WebhookDeliveries::Body))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::NextAttemptAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LeasedUntil,
                    ))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // An event reaches an app once, however often its fan-out runs (replays and test events
        // are events of their own).
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_event_app")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EventId)
                    .col(WebhookDeliveries::AppId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_app")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::AppId)
                    .col(WebhookDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(uuid(WebhookAttempts::Id).primary_key())
                    .col(uuid(WebhookAttempts::DeliveryId))
                    .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                    .col(integer_null(WebhookAttempts::StatusCode))
                    .col(integer(WebhookAttempts::LatencyMs))
                    .col(text_null(WebhookAttempts::ResponseExcerpt))
                    .col(text_null(WebhookAttempts::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookAttempts::Table, WebhookAttempts::DeliveryId)
                            .to(WebhookDeliveries::Table, WebhookDeliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_attempts_delivery")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::DeliveryId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookSequences::Table)
                    .col(uuid(WebhookSequences::AppId))
                    // The nil UUID for events about no organization.
                    .col(uuid(WebhookSequences::OrganizationId))
                    .col(big_integer(WebhookSequences::Last))
                    .primary_key(
                        Index::create()
                            .col(WebhookSequences::AppId)
                            .col(WebhookSequences::OrganizationId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookSequences::Table.into_iden(),
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
            OutboxEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
