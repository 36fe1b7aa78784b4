//! The identity subgraph: users, organizations and their memberships, accounts and tokens.

pub mod account_pages;
pub mod accounts;
pub mod entity;
pub mod events;
pub mod graphql;
pub mod internal;
pub mod invitations;
pub mod mail;
pub mod memberships;
mod name;
pub mod organizations;
pub mod tenancy;
pub mod users;

use std::sync::Arc;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema};
use sea_orm::DatabaseConnection;

use accounts::AuthConfig;
use entity::{membership, organization, user};
use graphql::{ClientAddress, Mutation, Query};
use nexus_kit::loader;
use nexus_kit::token::KeyStore;
use tenancy::{Tenancy, VisibleUsers};

pub use name::NAME;

pub type IdentitySchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(db: DatabaseConnection, config: AuthConfig, mailer: mail::Mailer) -> IdentitySchema {
    nexus_kit::limits::bounded(Schema::build(Query, Mutation::default(), EmptySubscription))
        .enable_federation()
        .data(db)
        .data(config)
        .data(mailer)
        .finish()
}

/// The federation SDL this subgraph serves as `_service { sdl }`.
pub fn sdl() -> String {
    Schema::build(Query, Mutation::default(), EmptySubscription)
        .enable_federation()
        .finish()
        .sdl_with_options(SDLExportOptions::new().federation())
}

/// `access_ttl`: how long a user's access token lives; `limits`: the rate-limit buckets;
/// `mailer`: how letters (verification, reset, invitations) are sent; `secrets`: the key for
/// secrets at rest.
pub fn http_router(
    db: DatabaseConnection,
    keys: Arc<KeyStore>,
    access_ttl: std::time::Duration,
    limits: nexus_kit::rate_limit::RateLimits,
    mailer: mail::Mailer,
    secrets: Arc<nexus_kit::secret_box::SecretBox>,
) -> axum::Router {
    let config = AuthConfig {
        access_ttl,
        ..AuthConfig::new(keys.clone(), limits, secrets)
    };
    let schema = schema(db.clone(), config.clone(), mailer);
    let pages = account_pages::routes(db.clone(), config.clone());
    let internal = internal::routes(db.clone(), keys.clone(), config);
    nexus_kit::server::http_router(
        NAME,
        schema,
        keys,
        Arc::new(move |request, scope| {
            let tenancy = Tenancy::new(db.clone(), scope.caller.clone());
            let address = scope.client_address();
            request
                .data(loader::by_id::<user::Entity>(&db, scope.gate))
                .data(loader::by_id::<organization::Entity>(&db, scope.gate))
                .data(loader::by_id::<membership::Entity>(&db, scope.gate))
                .data(loader::child_pages::<membership::ByOrganization>(
                    &db, scope.gate,
                ))
                .data(loader::child_pages::<membership::ByUser>(&db, scope.gate))
                .data(loader::child_pages::<
                    entity::invitation::PendingByOrganization,
                >(&db, scope.gate))
                .data(loader::batched(
                    VisibleUsers {
                        tenancy: tenancy.clone(),
                    },
                    scope.gate,
                ))
                .data(tenancy)
                .data(accounts::session::Device {
                    user_agent: scope.user_agent(),
                    address: Some(address.chars().take(64).collect()),
                })
                .data(ClientAddress(address))
        }),
        // Identity checks memberships in its own tables.
        None,
    )
    .merge(internal)
    .merge(pages)
}
