//! The core subgraphs, in one table: their names, SDL and HTTP service.

use std::sync::Arc;

use nexus_kit::token::KeyStore;
use sea_orm::DatabaseConnection;

pub struct CoreSubgraph {
    pub name: &'static str,
    pub sdl: fn() -> String,
    pub http_router: fn(DatabaseConnection, Arc<KeyStore>) -> axum::Router,
    /// Port in `nexus dev` and `nexus serve`, next to the router's 4000.
    pub default_port: u16,
}

pub const CORE_SUBGRAPHS: [CoreSubgraph; 3] = [
    CoreSubgraph {
        name: nexus_identity::NAME,
        sdl: nexus_identity::sdl,
        http_router: nexus_identity::http_router,
        default_port: 4001,
    },
    CoreSubgraph {
        name: nexus_apps::NAME,
        sdl: nexus_apps::sdl,
        http_router: nexus_apps::http_router,
        default_port: 4002,
    },
    CoreSubgraph {
        name: nexus_licensing::NAME,
        sdl: nexus_licensing::sdl,
        http_router: nexus_licensing::http_router,
        default_port: 4003,
    },
];

pub fn find(name: &str) -> Option<&'static CoreSubgraph> {
    CORE_SUBGRAPHS.iter().find(|s| s.name == name)
}
