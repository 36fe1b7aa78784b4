//! Owner: every service (`nexus_kit::audit`). Each entry's hash format (1: before the entry's id
//! was hashed; 2: the id too), and the chain head's signature: at each seal the head's position
//! and hash are signed with the platform's key, so a chain rewritten by someone who can write to
//! the database but does not hold the key no longer verifies.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Format,
}

#[derive(DeriveIden)]
enum AuditChainHead {
    Table,
    SignedAt,
    KeyId,
    Signature,
}

fn columns() -> Vec<(DynIden, ColumnDef)> {
    vec![
        (
            AuditLog::Table.into_iden(),
            small_integer(AuditLog::Format).default(1).to_owned(),
        ),
        (
            AuditChainHead::Table.into_iden(),
            timestamp_with_time_zone_null(AuditChainHead::SignedAt).to_owned(),
        ),
        (
            AuditChainHead::Table.into_iden(),
            string_len_null(AuditChainHead::KeyId, 64).to_owned(),
        ),
        (
            AuditChainHead::Table.into_iden(),
            string_len_null(AuditChainHead::Signature, 128).to_owned(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for (table, column) in columns() {
            manager
                .alter_table(Table::alter().table(table).add_column(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Alias::new(column.get_column_name()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
