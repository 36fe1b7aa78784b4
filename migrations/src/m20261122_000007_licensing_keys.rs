//! Owner: licensing. License keys (stored hashed), entitlements, the activation counter that keeps
//! activations within `max_activations` under concurrency, and one trial per app and organization.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Licenses {
    Table,
    KeyHash,
    KeyLast4,
    Entitlements,
    ActivationCount,
    AppNamespace,
    DeveloperId,
    IssuedBy,
    StatusReason,
}

#[derive(DeriveIden)]
enum Activations {
    Table,
    Name,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        let columns = [
            // SHA-256 of the normalized key; the key itself is shown once and never stored.
            string_len_null(Licenses::KeyHash, 64),
            string_len_null(Licenses::KeyLast4, 4),
            json_null(Licenses::Entitlements),
            integer(Licenses::ActivationCount).default(0).to_owned(),
            // Copied from the apps service at issue: certificates name the app, and developers
            // see their app's licenses, without licensing reading the apps tables.
            string_len_null(Licenses::AppNamespace, 64),
            uuid_null(Licenses::DeveloperId),
            uuid_null(Licenses::IssuedBy),
            string_len_null(Licenses::StatusReason, 500),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Licenses::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Activations::Table)
                    .add_column(string_len_null(Activations::Name, 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("licenses_key_hash")
                    .table(Licenses::Table)
                    .col(Licenses::KeyHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A partial index, written the same for SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX licenses_one_trial \
                 ON licenses (app_id, organization_id) WHERE kind = 'trial'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX licenses_one_trial")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("licenses_key_hash")
                    .table(Licenses::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Activations::Table)
                    .drop_column(Activations::Name)
                    .to_owned(),
            )
            .await?;
        for column in [
            Licenses::KeyHash,
            Licenses::KeyLast4,
            Licenses::Entitlements,
            Licenses::ActivationCount,
            Licenses::AppNamespace,
            Licenses::DeveloperId,
            Licenses::IssuedBy,
            Licenses::StatusReason,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Licenses::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
