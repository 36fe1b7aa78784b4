//! The licensing subgraph: licenses of apps for organizations, and their activations.

pub mod entity;
pub mod graphql;
pub mod service;

use std::sync::Arc;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema};
use sea_orm::DatabaseConnection;

use entity::{activation, license};
use graphql::{Mutation, Query};
use nexus_kit::loader;
use nexus_kit::token::KeyStore;
use service::LicenseForInstallation;

pub const NAME: &str = "licensing";

pub type LicensingSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(db: DatabaseConnection) -> LicensingSchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .data(db)
        .finish()
}

/// The federation SDL this subgraph serves as `_service { sdl }`.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .finish()
        .sdl_with_options(SDLExportOptions::new().federation())
}

pub fn http_router(db: DatabaseConnection, keys: Arc<KeyStore>) -> axum::Router {
    let schema = schema(db.clone());
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
        }),
    )
}
