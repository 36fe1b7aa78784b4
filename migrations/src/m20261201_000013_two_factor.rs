//! Owner: identity. Two-factor sign-in (TOTP, RFC 6238): each account's authenticator secret,
//! its single-use recovery codes (stored hashed), the short-lived challenges `logIn` answers
//! with, whether a session was signed in with a second factor, and organizations that require it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TwoFactors {
    Table,
    UserId,
    Secret,
    ConfirmedAt,
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SecondFactorChallenges {
    Table,
    Id,
    UserId,
    TokenHash,
    Failures,
    ExpiresAt,
    UsedAt,
    UserAgent,
    Address,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TwoFactor,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    RequireTwoFactor,
}

/// OAuth codes and grants remember whether the sign-in behind them had a second factor.
#[derive(DeriveIden)]
enum OauthCodes {
    Table,
    TwoFactor,
}

#[derive(DeriveIden)]
enum OauthGrants {
    Table,
    TwoFactor,
}

/// The flags (false by default) added to existing tables: a session's, an organization's, an
/// OAuth code's and grant's.
fn flags() -> [(DynIden, DynIden); 4] {
    [
        (
            RefreshTokens::Table.into_iden(),
            RefreshTokens::TwoFactor.into_iden(),
        ),
        (
            Organizations::Table.into_iden(),
            Organizations::RequireTwoFactor.into_iden(),
        ),
        (
            OauthCodes::Table.into_iden(),
            OauthCodes::TwoFactor.into_iden(),
        ),
        (
            OauthGrants::Table.into_iden(),
            OauthGrants::TwoFactor.into_iden(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TwoFactors::Table)
                    .col(uuid(TwoFactors::UserId).primary_key())
                    // Base32, as the authenticator app is given it.
                    .col(string_len(TwoFactors::Secret, 128))
                    // Null while enrolling: the secret works only once a code has confirmed it.
                    .col(timestamp_with_time_zone_null(TwoFactors::ConfirmedAt))
                    // The newest time step a code was accepted for: a code works once.
                    .col(big_integer(TwoFactors::LastStep).default(0))
                    .col(timestamp_with_time_zone(TwoFactors::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(uuid(RecoveryCodes::Id).primary_key())
                    .col(uuid(RecoveryCodes::UserId))
                    .col(string_len(RecoveryCodes::CodeHash, 64))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("recovery_codes_by_user")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .col(RecoveryCodes::CodeHash)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SecondFactorChallenges::Table)
                    .col(uuid(SecondFactorChallenges::Id).primary_key())
                    .col(uuid(SecondFactorChallenges::UserId))
                    .col(string_len(SecondFactorChallenges::TokenHash, 64).unique_key())
                    // Wrong codes given for it: a few, and the challenge is dead.
                    .col(integer(SecondFactorChallenges::Failures).default(0))
                    .col(timestamp_with_time_zone(SecondFactorChallenges::ExpiresAt))
                    .col(timestamp_with_time_zone_null(
                        SecondFactorChallenges::UsedAt,
                    ))
                    .col(string_len_null(SecondFactorChallenges::UserAgent, 256))
                    .col(string_len_null(SecondFactorChallenges::Address, 64))
                    .col(timestamp_with_time_zone(SecondFactorChallenges::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one thing at a time.
        for (table, column) in flags() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(boolean(column).default(false))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in flags().into_iter().rev() {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        for table in [
            SecondFactorChallenges::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TwoFactors::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
