//! Owner: licensing. Licenses of an app for an organization, and their activations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Licenses {
    Table,
    Id,
    AppId,
    OrganizationId,
    Kind,
    Status,
    MaxActivations,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Activations {
    Table,
    Id,
    LicenseId,
    Fingerprint,
    CreatedAt,
    LastSeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Licenses::Table)
                    .col(uuid(Licenses::Id).primary_key())
                    // App and organization ids of other subgraphs: referenced, never joined.
                    .col(uuid(Licenses::AppId))
                    .col(uuid(Licenses::OrganizationId))
                    .col(string_len(Licenses::Kind, 16))
                    .col(string_len(Licenses::Status, 16))
                    .col(integer(Licenses::MaxActivations))
                    .col(timestamp_with_time_zone_null(Licenses::ExpiresAt))
                    .col(timestamp_with_time_zone(Licenses::CreatedAt))
                    .col(timestamp_with_time_zone(Licenses::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("licenses_organization_app")
                    .table(Licenses::Table)
                    .col(Licenses::OrganizationId)
                    .col(Licenses::AppId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Activations::Table)
                    .col(uuid(Activations::Id).primary_key())
                    .col(uuid(Activations::LicenseId))
                    .col(string_len(Activations::Fingerprint, 256))
                    .col(timestamp_with_time_zone(Activations::CreatedAt))
                    .col(timestamp_with_time_zone(Activations::LastSeenAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Activations::Table, Activations::LicenseId)
                            .to(Licenses::Table, Licenses::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("activations_license_fingerprint")
                    .table(Activations::Table)
                    .col(Activations::LicenseId)
                    .col(Activations::Fingerprint)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Activations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Licenses::Table).to_owned())
            .await
    }
}
