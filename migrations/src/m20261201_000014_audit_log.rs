//! Owner: every service (`nexus_kit::audit`). The audit log (entries are appended with their
//! action, then sealed into a hash chain: position, previous hash, own hash) and the chain's head
//! row (the newest sealed entry's position and hash), whose lock makes sealers take turns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Seq,
    OccurredAt,
    Action,
    ActorType,
    ActorId,
    OrganizationId,
    TargetType,
    TargetId,
    Address,
    Details,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditChainHead {
    Table,
    Id,
    Seq,
    Hash,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(uuid(AuditLog::Id).primary_key())
                    // Null until sealed.
                    .col(big_integer_null(AuditLog::Seq).unique_key())
                    .col(timestamp_with_time_zone(AuditLog::OccurredAt))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::ActorType, 16))
                    .col(string_len_null(AuditLog::ActorId, 64))
                    .col(uuid_null(AuditLog::OrganizationId))
                    .col(string_len_null(AuditLog::TargetType, 32))
                    .col(string_len_null(AuditLog::TargetId, 64))
                    .col(string_len_null(AuditLog::Address, 64))
                    .col(text(AuditLog::Details))
                    .col(string_len_null(AuditLog::PrevHash, 64))
                    .col(string_len_null(AuditLog::Hash, 64))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("audit_log_by_organization", AuditLog::OrganizationId),
            ("audit_log_by_actor", AuditLog::ActorId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditLog::Table)
                        .col(column)
                        .col(AuditLog::Id)
                        .to_owned(),
                )
                .await?;
        }
        // The sealer's query: entries not sealed yet, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("audit_log_by_time")
                    .table(AuditLog::Table)
                    .col(AuditLog::OccurredAt)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditChainHead::Table)
                    .col(integer(AuditChainHead::Id).primary_key())
                    .col(big_integer(AuditChainHead::Seq))
                    .col(string_len(AuditChainHead::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditChainHead::Table)
                    .columns([
                        AuditChainHead::Id,
                        AuditChainHead::Seq,
                        AuditChainHead::Hash,
                    ])
                    .values_panic([1.into(), 0i64.into(), GENESIS.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditChainHead::Table.into_iden(),
            AuditLog::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
