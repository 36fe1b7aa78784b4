//! Owners: identity (`users`), apps (`oauth_codes`, `oauth_grants`). Sessions that end
//! everywhere: an account's `session_epoch` goes up when its password is reset or changed (or
//! two-factor sign-in is turned on), and everything signed in before — the OAuth pages' browser
//! sessions, which carry the epoch they were signed in at, and the OAuth codes and grants made
//! from them — stops working.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    SessionEpoch,
}

#[derive(DeriveIden)]
enum OauthCodes {
    Table,
    SessionEpoch,
}

#[derive(DeriveIden)]
enum OauthGrants {
    Table,
    SessionEpoch,
}

fn columns() -> [(DynIden, DynIden); 3] {
    [
        (Users::Table.into_iden(), Users::SessionEpoch.into_iden()),
        (
            OauthCodes::Table.into_iden(),
            OauthCodes::SessionEpoch.into_iden(),
        ),
        (
            OauthGrants::Table.into_iden(),
            OauthGrants::SessionEpoch.into_iden(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for (table, column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns() {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
