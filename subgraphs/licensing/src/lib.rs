//! The licensing subgraph: licenses of apps for organizations, and their activations.

pub mod activations;
pub mod certificate;
pub mod core_lookups;
pub mod entity;
pub mod events;
pub mod expiry;
pub mod graphql;
pub mod keys;
mod name;
pub mod service;

use std::sync::Arc;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema};
use sea_orm::DatabaseConnection;

use core_lookups::{AppsService, IdentityService};
use entity::{activation, license};
use graphql::{AnonymousValidations, ClientAddress, Mutation, Query};
use nexus_kit::core_client::CoreClient;
use nexus_kit::loader;
use nexus_kit::token::KeyStore;
use service::LicenseForInstallation;

pub use name::NAME;

pub type LicensingSchema = Schema<Query, Mutation, EmptySubscription>;

/// `apps` and `identity`: the services licensing asks about apps and organizations; `limits`:
/// the rate-limit buckets.
pub fn schema(
    db: DatabaseConnection,
    keys: Arc<KeyStore>,
    apps: AppsService,
    identity: IdentityService,
    limits: nexus_kit::rate_limit::RateLimits,
) -> LicensingSchema {
    nexus_kit::limits::bounded(Schema::build(Query, Mutation, EmptySubscription))
        .enable_federation()
        .data(db)
        .data(keys)
        .data(apps)
        .data(identity)
        .data(AnonymousValidations(limits))
        .finish()
}

/// The federation SDL this subgraph serves as `_service { sdl }`.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .finish()
        .sdl_with_options(SDLExportOptions::new().federation())
}

/// `apps_url`, `identity_url`: those subgraphs' GraphQL URLs.
pub fn http_router(
    db: DatabaseConnection,
    keys: Arc<KeyStore>,
    apps_url: String,
    identity_url: String,
    limits: nexus_kit::rate_limit::RateLimits,
    membership_ttl: std::time::Duration,
) -> axum::Router {
    let authority = Arc::new(nexus_kit::authority::Memberships::new(
        NAME,
        &identity_url,
        keys.clone(),
        membership_ttl,
    ));
    let apps = AppsService(CoreClient::new(NAME, "apps", apps_url, keys.clone()));
    let identity = IdentityService(CoreClient::new(
        NAME,
        "identity",
        identity_url,
        keys.clone(),
    ));
    let schema = schema(db.clone(), keys.clone(), apps, identity, limits);
    nexus_kit::server::http_router(
        NAME,
        schema,
        keys,
        Arc::new(move |request, scope| {
            request
                .data(loader::by_id::<license::Entity>(&db, scope.gate))
                .data(loader::by_id::<activation::Entity>(&db, scope.gate))
                .data(loader::child_pages::<license::ByOrganization>(
                    &db, scope.gate,
                ))
                .data(loader::child_pages::<activation::ByLicense>(
                    &db, scope.gate,
                ))
                .data(loader::batched(
                    LicenseForInstallation { db: db.clone() },
                    scope.gate,
                ))
                .data(ClientAddress(scope.client_address()))
        }),
        Some(authority),
    )
}
