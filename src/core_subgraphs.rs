//! The core subgraphs, in one table: their names, SDL and HTTP service.

use std::sync::Arc;

use nexus_kit::token::KeyStore;
use nexus_registry::sdl_fetch::FetchPolicy;
use nexus_registry::{Registry, SubgraphSdl};
use sea_orm::DatabaseConnection;

/// What a core subgraph's HTTP service is built from.
pub struct Services {
    pub db: DatabaseConnection,
    pub keys: Arc<KeyStore>,
    pub registry: Arc<Registry>,
    /// The GraphQL URLs of the core subgraphs, for those that ask each other.
    pub identity_url: String,
    pub apps_url: String,
    pub licensing_url: String,
}

pub struct CoreSubgraph {
    pub name: &'static str,
    pub sdl: fn() -> String,
    pub http_router: fn(&Services) -> axum::Router,
    /// Port in `nexus dev` and `nexus serve`, next to the router's 4000.
    pub default_port: u16,
}

pub const CORE_SUBGRAPHS: [CoreSubgraph; 3] = [
    CoreSubgraph {
        name: nexus_identity::NAME,
        sdl: nexus_identity::sdl,
        http_router: |s| nexus_identity::http_router(s.db.clone(), s.keys.clone()),
        default_port: 4001,
    },
    CoreSubgraph {
        name: nexus_apps::NAME,
        sdl: nexus_apps::sdl,
        http_router: |s| {
            nexus_apps::http_router(
                s.db.clone(),
                s.keys.clone(),
                s.registry.clone(),
                nexus_apps::licensing_client(s.licensing_url.clone(), s.keys.clone()),
            )
        },
        default_port: 4002,
    },
    CoreSubgraph {
        name: nexus_licensing::NAME,
        sdl: nexus_licensing::sdl,
        http_router: |s| {
            nexus_licensing::http_router(
                s.db.clone(),
                s.keys.clone(),
                s.apps_url.clone(),
                s.identity_url.clone(),
            )
        },
        default_port: 4003,
    },
];

pub fn find(name: &str) -> Option<&'static CoreSubgraph> {
    CORE_SUBGRAPHS.iter().find(|s| s.name == name)
}

/// The registry for the core subgraphs at these URLs; `allow_private_subgraphs` lets apps live
/// on loopback and private addresses (development).
pub fn registry(core: Vec<SubgraphSdl>, allow_private_subgraphs: bool) -> Arc<Registry> {
    let fetch = if allow_private_subgraphs {
        FetchPolicy::allow_loopback()
    } else {
        FetchPolicy::public()
    };
    Arc::new(Registry::new(
        core,
        fetch,
        nexus_kit::scopes::CATALOG.iter().map(|(s, _)| *s).collect(),
    ))
}
