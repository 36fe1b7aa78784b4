//! Owner: apps. The OAuth authorization server's state: what a user consented to for an app in an
//! organization (`oauth_authorizations`, remembered so a second sign-in skips the consent page),
//! authorization codes (single use, 60 s, stored hashed), grants (one per code redeemed: the
//! tokens it issued live and die together) and rotating refresh tokens (stored hashed).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthAuthorizations {
    Table,
    Id,
    UserId,
    AppId,
    OrganizationId,
    InstallationId,
    Scopes,
    CreatedAt,
    UpdatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum OauthCodes {
    Table,
    CodeHash,
    AuthorizationId,
    RedirectUri,
    Scopes,
    CodeChallenge,
    Nonce,
    AuthTime,
    ExpiresAt,
    UsedAt,
    GrantId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OauthGrants {
    Table,
    Id,
    AuthorizationId,
    Scopes,
    AuthTime,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum OauthRefreshTokens {
    Table,
    Id,
    GrantId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthAuthorizations::Table)
                    .col(uuid(OauthAuthorizations::Id).primary_key())
                    .col(uuid(OauthAuthorizations::UserId))
                    .col(uuid(OauthAuthorizations::AppId))
                    .col(uuid(OauthAuthorizations::OrganizationId))
                    .col(uuid(OauthAuthorizations::InstallationId))
                    .col(json_binary(OauthAuthorizations::Scopes))
                    .col(timestamp_with_time_zone(OauthAuthorizations::CreatedAt))
                    .col(timestamp_with_time_zone(OauthAuthorizations::UpdatedAt))
                    .col(timestamp_with_time_zone_null(
                        OauthAuthorizations::RevokedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oauth_authorizations_once")
                    .table(OauthAuthorizations::Table)
                    .col(OauthAuthorizations::UserId)
                    .col(OauthAuthorizations::AppId)
                    .col(OauthAuthorizations::OrganizationId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oauth_authorizations_by_installation")
                    .table(OauthAuthorizations::Table)
                    .col(OauthAuthorizations::InstallationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthCodes::Table)
                    .col(string_len(OauthCodes::CodeHash, 64).primary_key())
                    .col(uuid(OauthCodes::AuthorizationId))
                    .col(string_len(OauthCodes::RedirectUri, 2048))
                    .col(json_binary(OauthCodes::Scopes))
                    .col(string_len(OauthCodes::CodeChallenge, 128))
                    .col(string_len_null(OauthCodes::Nonce, 512))
                    .col(timestamp_with_time_zone(OauthCodes::AuthTime))
                    .col(timestamp_with_time_zone(OauthCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthCodes::UsedAt))
                    .col(uuid_null(OauthCodes::GrantId))
                    .col(timestamp_with_time_zone(OauthCodes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthGrants::Table)
                    .col(uuid(OauthGrants::Id).primary_key())
                    .col(uuid(OauthGrants::AuthorizationId))
                    .col(json_binary(OauthGrants::Scopes))
                    .col(timestamp_with_time_zone(OauthGrants::AuthTime))
                    .col(timestamp_with_time_zone(OauthGrants::CreatedAt))
                    .col(timestamp_with_time_zone_null(OauthGrants::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("oauth_grants_by_authorization")
                    .table(OauthGrants::Table)
                    .col(OauthGrants::AuthorizationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthRefreshTokens::Table)
                    .col(uuid(OauthRefreshTokens::Id).primary_key())
                    .col(uuid(OauthRefreshTokens::GrantId))
                    .col(string_len(OauthRefreshTokens::TokenHash, 64).unique_key())
                    .col(timestamp_with_time_zone(OauthRefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthRefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone(OauthRefreshTokens::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OauthRefreshTokens::Table.into_iden(),
            OauthGrants::Table.into_iden(),
            OauthCodes::Table.into_iden(),
            OauthAuthorizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
