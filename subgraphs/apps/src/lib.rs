//! The apps subgraph: apps in the store and their installations into organizations.

pub mod entity;
pub mod graphql;
pub mod service;

use std::sync::Arc;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema};
use sea_orm::DatabaseConnection;

use entity::{app, installation};
use graphql::{Mutation, Query};
use nexus_kit::loader;
use nexus_kit::token::KeyStore;

pub const NAME: &str = "apps";

pub type AppsSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(db: DatabaseConnection) -> AppsSchema {
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
                .data(loader::by_id::<app::Entity>(&db, scope.gate))
                .data(loader::by_id::<installation::Entity>(&db, scope.gate))
                .data(loader::child_pages::<installation::LiveByOrganization>(
                    &db, scope.gate,
                ))
        }),
    )
}
