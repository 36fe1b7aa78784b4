//! Owner: identity. The mail limits count an inviter's invitations of the last day across their
//! organizations (an organization's are found by `invitations_by_organization`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invitations {
    Table,
    InvitedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("invitations_by_inviter")
                    .table(Invitations::Table)
                    .col(Invitations::InvitedBy)
                    .col(Invitations::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("invitations_by_inviter")
                    .table(Invitations::Table)
                    .to_owned(),
            )
            .await
    }
}
