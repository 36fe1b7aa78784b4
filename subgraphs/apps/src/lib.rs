//! The apps subgraph: apps in the store and their installations into organizations.

pub mod development;
pub mod entity;
pub mod events;
pub mod graphql;
pub mod installations;
pub mod internal;
pub mod license_sync;
pub mod listing;
pub mod markdown;
mod name;
pub mod oauth;
pub mod registry;
pub mod search;

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

pub use name::NAME;

pub type AppsSchema = Schema<RootQuery, RootMutation, EmptySubscription>;

/// `licensing`: the licensing service, asked whether an organization may install a paid app.
pub fn schema(
    db: DatabaseConnection,
    registry: Arc<Registry>,
    licensing: CoreClient,
    secrets: Arc<nexus_kit::secret_box::SecretBox>,
    development: Development,
) -> AppsSchema {
    nexus_kit::limits::bounded(Schema::build(
        RootQuery::default(),
        RootMutation::default(),
        EmptySubscription,
    ))
    .enable_federation()
    .data(registry::publisher::Publisher::new(
        db.clone(),
        registry.clone(),
    ))
    .data(db)
    .data(registry)
    .data(licensing)
    .data(secrets)
    .data(development)
    .data(search::vocabulary::Vocabulary::default())
    .finish()
}

/// What the apps service does once at start, before serving: the supergraph to serve (see
/// `registry::versions::startup_supergraph`), and what live apps can touch recorded where it
/// never was (apps approved before Nexus recorded it).
pub async fn startup(db: &DatabaseConnection, registry: &Registry) -> anyhow::Result<String> {
    let supergraph = registry::versions::startup_supergraph(db, registry).await?;
    listing::backfill_access(db)
        .await
        .map_err(|e| anyhow::anyhow!("recording what live apps can touch: {}", e.message))?;
    Ok(supergraph)
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
        license_sync::spawn_sync(db, licensing, license_sync_interval),
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

/// How the apps service's HTTP side is set up beyond its database, keys and peers.
pub struct HttpSettings {
    /// How long the installation tokens `POST /oauth/token` issues live.
    pub installation_token_ttl: std::time::Duration,
    /// How long an access token acting for a user (OAuth authorization code) lives.
    pub access_token_ttl: std::time::Duration,
    /// identity's GraphQL URL: memberships as they are now, passwords, accounts.
    pub identity_url: String,
    /// How long a membership answer from identity is trusted.
    pub membership_ttl: std::time::Duration,
    /// The key for secrets at rest (webhook signing secrets).
    pub secrets: Arc<nexus_kit::secret_box::SecretBox>,
    /// A development platform: developers approve their own versions and trigger any event.
    pub development: bool,
}

/// Whether this platform is a development one (`nexus dev`), in the schema's data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Development(pub bool);

pub fn http_router(
    db: DatabaseConnection,
    keys: Arc<KeyStore>,
    registry: Arc<Registry>,
    licensing: CoreClient,
    settings: HttpSettings,
) -> axum::Router {
    let token_state = (db.clone(), keys.clone());
    let feed_state = (db.clone(), registry.clone(), keys.clone());
    let schema = schema(
        db.clone(),
        registry,
        licensing.clone(),
        settings.secrets.clone(),
        Development(settings.development),
    );
    let authority = Arc::new(nexus_kit::authority::Memberships::new(
        NAME,
        &settings.identity_url,
        keys.clone(),
        settings.membership_ttl,
    ));
    let oauth_server = oauth::OAuthServer {
        db: db.clone(),
        keys: keys.clone(),
        accounts: nexus_kit::accounts::Accounts::new(NAME, &settings.identity_url, keys.clone()),
        memberships: authority.clone(),
        licensing,
        installation_token_ttl: settings.installation_token_ttl,
        access_token_ttl: settings.access_token_ttl,
    };
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
    .merge(oauth::routes(oauth_server))
    .route(
        nexus_kit::internal::installation::PATH,
        axum::routing::get(internal::installation::lookup).with_state(token_state),
    )
    .route(
        nexus_kit::internal::supergraph::PATH,
        axum::routing::get(registry::feed::head).with_state(feed_state),
    )
}
