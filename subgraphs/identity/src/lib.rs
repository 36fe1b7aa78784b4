//! The identity subgraph: users, organizations and their memberships.

pub mod entity;
pub mod graphql;
pub mod service;

use std::sync::Arc;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema};
use sea_orm::DatabaseConnection;

use entity::{membership, organization, user};
use graphql::{Mutation, Query};
use nexus_kit::loader;

pub const NAME: &str = "identity";

pub type IdentitySchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(db: DatabaseConnection) -> IdentitySchema {
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

pub fn http_router(db: DatabaseConnection) -> axum::Router {
    let schema = schema(db.clone());
    nexus_kit::server::http_router(
        NAME,
        schema,
        Arc::new(move |request, scope| {
            request
                .data(loader::by_id::<user::Entity>(&db, scope.gate))
                .data(loader::by_id::<organization::Entity>(&db, scope.gate))
                .data(loader::by_id::<membership::Entity>(&db, scope.gate))
                .data(loader::child_pages::<membership::ByOrganization>(
                    &db, scope.gate,
                ))
                .data(loader::child_pages::<membership::ByUser>(&db, scope.gate))
        }),
    )
}
