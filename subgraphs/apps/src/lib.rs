//! The apps subgraph: apps in the store and their installations into organizations.

pub mod entity;
pub mod events;
pub mod graphql;
pub mod installation_lookup;
pub mod installation_tokens;
pub mod installations;
pub mod licensing;
pub mod registry;
pub mod service;
pub mod token_request;
pub mod webhooks;

use std::sync::Arc;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema};
use sea_orm::DatabaseConnection;

use entity::{app, app_version, installation};
use graphql::{RootMutation, RootQuery};
use nexus_kit::core_client::CoreClient;
use nexus_kit::loader;
use nexus_kit::token::KeyStore;
use nexus_registry::Registry;

pub const NAME: &str = "apps";

pub type AppsSchema = Schema<RootQuery, RootMutation, EmptySubscription>;

/// `licensing`: the licensing service, asked whether an organization may install a paid app.
pub fn schema(
    db: DatabaseConnection,
    registry: Arc<Registry>,
    licensing: CoreClient,
) -> AppsSchema {
    nexus_kit::limits::bounded(Schema::build(
        RootQuery::default(),
        RootMutation::default(),
        EmptySubscription,
    ))
    .enable_federation()
    .data(db)
    .data(registry)
    .data(licensing)
    .finish()
}

/// The apps service's periodic work: health checks of live apps every `health_interval`, and
/// installations of paid apps following their licenses every `license_sync_interval`.
pub fn spawn_jobs(
    db: DatabaseConnection,
    registry: Arc<Registry>,
    licensing: CoreClient,
    health_interval: std::time::Duration,
    license_sync_interval: std::time::Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        registry::health::spawn_checker(db.clone(), registry, health_interval),
        licensing::spawn_sync(db, licensing, license_sync_interval),
    ]
}

/// The client apps uses to ask the licensing service (at `licensing_url`, its GraphQL URL).
pub fn licensing_client(licensing_url: String, keys: Arc<KeyStore>) -> CoreClient {
    CoreClient::new(NAME, "licensing", licensing_url, keys)
}

/// The federation SDL this subgraph serves as `_service { sdl }`.
pub fn sdl() -> String {
    Schema::build(
        RootQuery::default(),
        RootMutation::default(),
        EmptySubscription,
    )
    .enable_federation()
    .finish()
    .sdl_with_options(SDLExportOptions::new().federation())
}

/// `installation_token_ttl`: how long the tokens `POST /oauth/token` issues live;
/// `identity_url`: where users' memberships are checked as they are now.
pub fn http_router(
    db: DatabaseConnection,
    keys: Arc<KeyStore>,
    registry: Arc<Registry>,
    licensing: CoreClient,
    installation_token_ttl: std::time::Duration,
    identity_url: &str,
    membership_ttl: std::time::Duration,
) -> axum::Router {
    let token_state = (db.clone(), keys.clone());
    let token_endpoint = installation_tokens::TokenEndpoint {
        db: db.clone(),
        keys: keys.clone(),
        ttl: installation_token_ttl,
    };
    let feed_state = (db.clone(), registry.clone(), keys.clone());
    let schema = schema(db.clone(), registry, licensing);
    let authority = Arc::new(nexus_kit::authority::Memberships::new(
        NAME,
        identity_url,
        keys.clone(),
        membership_ttl,
    ));
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
                .data(loader::by_id::<app_version::Entity>(&db, scope.gate))
                .data(loader::child_pages::<app_version::ByApp>(&db, scope.gate))
        }),
        Some(authority),
    )
    .route(
        installation_tokens::TOKEN_PATH,
        axum::routing::post(installation_tokens::token).with_state(token_endpoint),
    )
    .route(
        nexus_kit::installation_view::LOOKUP_PATH,
        axum::routing::get(installation_lookup::lookup).with_state(token_state),
    )
    .route(
        registry::feed::FEED_PATH,
        axum::routing::get(registry::feed::head).with_state(feed_state),
    )
}
