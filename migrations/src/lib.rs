//! The one migrator for the core database. Each migration names the subgraph that owns its tables;
//! no table is written by two subgraphs, but for the outbox every service appends its events to.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_identity;
mod m20261122_000002_apps;
mod m20261122_000003_licensing;
mod m20261122_000004_identity_accounts;
mod m20261122_000005_apps_versions;
mod m20261122_000006_apps_credentials;
mod m20261122_000007_licensing_keys;
mod m20261201_000008_webhooks;
mod m20261201_000009_license_expiry;
mod m20261201_000010_oauth;
mod m20261201_000011_identity_mail;
mod m20261201_000012_sessions;
mod m20261201_000013_two_factor;
mod m20261201_000014_audit_log;
mod m20261204_000015_session_epochs;
mod m20261204_000016_mail_limits;
mod m20261204_000017_webhook_replays;
mod m20261207_000018_audit_signatures;
mod m20261208_000019_store_listings;
mod m20261208_000020_store_search;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_identity::Migration),
            Box::new(m20261122_000002_apps::Migration),
            Box::new(m20261122_000003_licensing::Migration),
            Box::new(m20261122_000004_identity_accounts::Migration),
            Box::new(m20261122_000005_apps_versions::Migration),
            Box::new(m20261122_000006_apps_credentials::Migration),
            Box::new(m20261122_000007_licensing_keys::Migration),
            Box::new(m20261201_000008_webhooks::Migration),
            Box::new(m20261201_000009_license_expiry::Migration),
            Box::new(m20261201_000010_oauth::Migration),
            Box::new(m20261201_000011_identity_mail::Migration),
            Box::new(m20261201_000012_sessions::Migration),
            Box::new(m20261201_000013_two_factor::Migration),
            Box::new(m20261201_000014_audit_log::Migration),
            Box::new(m20261204_000015_session_epochs::Migration),
            Box::new(m20261204_000016_mail_limits::Migration),
            Box::new(m20261204_000017_webhook_replays::Migration),
            Box::new(m20261207_000018_audit_signatures::Migration),
            Box::new(m20261208_000019_store_listings::Migration),
            Box::new(m20261208_000020_store_search::Migration),
        ]
    }
}
