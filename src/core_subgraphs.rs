//! The core subgraphs, in one table: their names, SDL and HTTP service.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;

use nexus_kit::secret_box::SecretBox;
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
    /// How long a user's access token lives.
    pub access_ttl: Duration,
    /// How long an app's installation token lives.
    pub installation_ttl: Duration,
    /// The rate-limit buckets (logins, sign-ups, anonymous license checks).
    pub rate_limits: nexus_kit::rate_limit::RateLimits,
    /// How long a user's role, asked of identity, is trusted.
    pub membership_ttl: Duration,
    /// How identity sends mail.
    pub mailer: nexus_identity::mail::Mailer,
    /// The key for secrets at rest (authenticator seeds, webhook signing secrets).
    pub secrets: Arc<SecretBox>,
    /// A development platform (`Config::development`).
    pub development: bool,
}

impl Services {
    /// The core services, reaching each other where `config` says (`nexus serve`, and a stack in
    /// one process once its ports are placed).
    pub fn from_config(
        config: &Config,
        db: DatabaseConnection,
        keys: Arc<KeyStore>,
        secrets: Arc<SecretBox>,
        registry: Arc<Registry>,
    ) -> anyhow::Result<Services> {
        Ok(Services {
            db,
            keys,
            secrets,
            registry,
            identity_url: format!("{}/graphql", config.identity.url),
            apps_url: format!("{}/graphql", config.apps.url),
            licensing_url: format!("{}/graphql", config.licensing.url),
            access_ttl: config.access_ttl(),
            installation_ttl: config.installation_ttl(),
            rate_limits: config.rate_limits()?,
            membership_ttl: config.freshness().memberships,
            mailer: config.mailer()?,
            development: config.development,
        })
    }
}

/// The core subgraphs' SDL, routed where `config` says they are reached (the registry composes
/// app versions against these URLs, and the router calls them there).
pub fn served_sdl(config: &Config) -> Vec<SubgraphSdl> {
    CORE_SUBGRAPHS
        .iter()
        .map(|c| SubgraphSdl {
            name: c.name.to_owned(),
            routing_url: format!("{}/graphql", config.url_of(c.name)),
            sdl: (c.sdl)(),
        })
        .collect()
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
        http_router: |s| {
            nexus_identity::http_router(
                s.db.clone(),
                s.keys.clone(),
                s.access_ttl,
                s.rate_limits.clone(),
                s.mailer.clone(),
                s.secrets.clone(),
            )
        },
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
                nexus_apps::HttpSettings {
                    installation_token_ttl: s.installation_ttl,
                    access_token_ttl: s.access_ttl,
                    identity_url: s.identity_url.clone(),
                    membership_ttl: s.membership_ttl,
                    secrets: s.secrets.clone(),
                    development: s.development,
                },
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
                s.rate_limits.clone(),
                s.membership_ttl,
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
