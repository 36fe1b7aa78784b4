//! The whole platform in one process: database, the three core subgraphs on loopback and the
//! router in front of them. `nexus dev` runs it; the end-to-end tests spawn it on random ports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use nexus_kit::db::{self, StatementCounter};
use nexus_kit::token::KeyStore;
use nexus_migrations::{Migrator, MigratorTrait};
use nexus_registry::{Registry, SubgraphSdl};
use nexus_router::{AuthOptions, RouterOptions, RunningRouter, SupergraphSource};
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::core_subgraphs::{self, CORE_SUBGRAPHS, Services};

pub struct StackOptions {
    pub database_url: String,
    /// Port 0 puts the router and every subgraph on a free port.
    pub router_listen: SocketAddr,
    /// The signing-key file; created with a fresh key if missing.
    pub keys_file: PathBuf,
    /// The tokens' `iss`; default: the router's URL.
    pub issuer: Option<String>,
    /// Accept and call app subgraphs on loopback and private addresses (development).
    pub allow_private_subgraphs: bool,
    /// The router's own address policy for its calls to apps, when it differs from the
    /// registry's: tests set it apart to play a DNS answer that changed after review.
    pub router_allows_private_apps: Option<bool>,
    /// How often live apps are health-checked.
    pub health_interval: std::time::Duration,
    /// How often installations of paid apps are checked against their licenses.
    pub license_sync_interval: std::time::Duration,
    /// Where each core subgraph listens, by name; one not named takes a free port next to a
    /// router on port 0, else its default port.
    pub subgraph_listen: BTreeMap<String, SocketAddr>,
    /// How long a user's access token lives.
    pub access_ttl: std::time::Duration,
    /// How long an app's installation token lives.
    pub installation_ttl: std::time::Duration,
    /// How long a context token (one call to an app) lives.
    pub context_ttl: std::time::Duration,
    /// YAML merged over the router's `router.yaml` (limits, rate limits).
    pub router_overlay: Option<String>,
    /// Proxies whose `X-Forwarded-For` the router believes.
    pub trusted_proxies: nexus_protocol::client_address::TrustedProxies,
    /// The rate-limit buckets every part of the platform counts in (Redis or this process).
    pub rate_limits: nexus_protocol::rate_limit::RateLimits,
    /// Connections and read timeouts of the public port.
    pub port_limits: nexus_router::front_door::PortLimits,
}

impl StackOptions {
    /// The whole platform in one process as `config` describes it (the composition root of
    /// `nexus dev`, the tests and the benchmark).
    pub fn from_config(config: &Config) -> anyhow::Result<StackOptions> {
        let router_listen = config.router.listen;
        let subgraph_listen = if router_listen.port() == 0 {
            BTreeMap::new()
        } else {
            [
                (nexus_identity::NAME, config.identity.listen),
                (nexus_apps::NAME, config.apps.listen),
                (nexus_licensing::NAME, config.licensing.listen),
            ]
            .into_iter()
            .map(|(name, addr)| (name.to_owned(), addr))
            .collect()
        };
        Ok(StackOptions {
            database_url: config.database_url()?,
            router_listen,
            keys_file: config.keys_file(),
            issuer: config.issuer.clone(),
            allow_private_subgraphs: config.allow_private_apps,
            router_allows_private_apps: None,
            health_interval: config.health_interval(),
            license_sync_interval: config.license_sync_interval(),
            subgraph_listen,
            access_ttl: config.access_ttl(),
            installation_ttl: config.installation_ttl(),
            context_ttl: config.context_ttl(),
            router_overlay: config.router_overlay()?,
            trusted_proxies: config.trusted_proxies()?,
            rate_limits: config.rate_limits()?,
            port_limits: config.port_limits(),
        })
    }
}

struct RunningSubgraph {
    name: &'static str,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

pub struct Stack {
    pub db: DatabaseConnection,
    pub registry: Arc<Registry>,
    pub keys: Arc<KeyStore>,
    /// Every SQL statement the subgraphs run.
    pub statements: StatementCounter,
    pub router: RunningRouter,
    subgraphs: Vec<RunningSubgraph>,
}

impl Stack {
    pub async fn start(options: StackOptions) -> anyhow::Result<Stack> {
        let (db, statements) = connect_and_migrate(&options.database_url).await?;
        // Bound now and kept: the issuer names this port before the router serves on it.
        let public = tokio::net::TcpListener::bind(options.router_listen)
            .await
            .map_err(|e| anyhow!("cannot listen on {}: {e}", options.router_listen))?;
        let router_listen = public.local_addr()?;
        let issuer = options
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{router_listen}"));
        let keys = KeyStore::open_or_create(&options.keys_file, &issuer)?;
        // Bind every subgraph first: the registry needs their URLs to compose.
        let mut listeners = Vec::new();
        let mut sdls = Vec::new();
        for core in &CORE_SUBGRAPHS {
            let addr = match (
                options.subgraph_listen.get(core.name),
                options.router_listen.port(),
            ) {
                (Some(addr), _) => *addr,
                (None, 0) => SocketAddr::new(options.router_listen.ip(), 0),
                (None, _) => SocketAddr::new(options.router_listen.ip(), core.default_port),
            };
            let listener = nexus_kit::server::bind(addr).await?;
            let addr = listener.local_addr()?;
            sdls.push(SubgraphSdl {
                name: core.name.to_owned(),
                routing_url: format!("http://{addr}/graphql"),
                sdl: (core.sdl)(),
            });
            listeners.push((core, listener, addr));
        }
        let registry = core_subgraphs::registry(sdls, options.allow_private_subgraphs);
        let url_of = |name: &str| {
            registry
                .core
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.routing_url.clone())
                .ok_or_else(|| anyhow!("no {name} subgraph"))
        };
        let services = Services {
            db: db.clone(),
            keys: keys.clone(),
            registry: registry.clone(),
            identity_url: url_of(nexus_identity::NAME)?,
            apps_url: url_of(nexus_apps::NAME)?,
            licensing_url: url_of(nexus_licensing::NAME)?,
            access_ttl: options.access_ttl,
            installation_ttl: options.installation_ttl,
            rate_limits: options.rate_limits.clone(),
        };
        let mut subgraphs = Vec::new();
        for (core, listener, addr) in listeners {
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(nexus_kit::server::serve(
                listener,
                (core.http_router)(&services),
                async move {
                    let _ = stopped.await;
                },
            ));
            tracing::info!(subgraph = core.name, %addr, "subgraph listening");
            subgraphs.push(RunningSubgraph {
                name: core.name,
                addr,
                stop: Some(stop),
                task,
            });
        }
        registry.publish(nexus_apps::registry::versions::startup_supergraph(&db, &registry).await?);
        nexus_apps::spawn_jobs(
            db.clone(),
            registry.clone(),
            nexus_apps::licensing_client(services.licensing_url.clone(), keys.clone()),
            options.health_interval,
            options.license_sync_interval,
        );
        let identity = subgraphs
            .iter()
            .find(|s| s.name == nexus_identity::NAME)
            .map(|s| s.addr)
            .ok_or_else(|| anyhow!("no identity subgraph"))?;
        let router = nexus_router::start_on(
            public,
            RouterOptions {
                listen: router_listen,
                subgraph_urls: BTreeMap::new(),
                overlay: options.router_overlay.clone(),
                auth: AuthOptions {
                    keys_file: options.keys_file.clone(),
                    issuer,
                    api_key_exchange_url: format!(
                        "http://{identity}{}",
                        nexus_identity::API_KEY_EXCHANGE_PATH
                    ),
                    core_subgraphs: CORE_SUBGRAPHS.iter().map(|c| c.name.to_owned()).collect(),
                    apps_url: subgraph_url(&subgraphs, nexus_apps::NAME)?,
                    allow_private_apps: options
                        .router_allows_private_apps
                        .unwrap_or(options.allow_private_subgraphs),
                    context_token_ttl: options.context_ttl,
                },
                passthrough: oauth_passthrough(&subgraph_url(&subgraphs, nexus_apps::NAME)?),
                trusted_proxies: options.trusted_proxies.clone(),
                rate_limits: options.rate_limits.clone(),
                port_limits: options.port_limits,
            },
            // The router follows the registry's head: every published supergraph is a hot reload.
            SupergraphSource::InProcess(registry.subscribe()),
        )
        .await?;
        tracing::info!(url = %router.graphql_url(), "router listening");
        Ok(Stack {
            db,
            registry,
            keys,
            statements,
            router,
            subgraphs,
        })
    }

    pub fn graphql_url(&self) -> String {
        self.router.graphql_url()
    }

    /// Where subgraph `name` listens (for tests that call a subgraph directly).
    pub fn subgraph_url(&self, name: &str) -> Option<String> {
        self.subgraphs
            .iter()
            .find(|s| s.name == name)
            .map(|s| format!("http://{}/graphql", s.addr))
    }

    /// Stops one subgraph, as if its process died; the router keeps serving the others.
    pub async fn stop_subgraph(&mut self, name: &str) -> anyhow::Result<()> {
        let subgraph = self
            .subgraphs
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| anyhow!("no subgraph named {name}"))?;
        if let Some(stop) = subgraph.stop.take() {
            let _ = stop.send(());
        }
        (&mut subgraph.task).await??;
        Ok(())
    }

    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.registry.close();
        self.router.shutdown().await?;
        for subgraph in &mut self.subgraphs {
            if let Some(stop) = subgraph.stop.take() {
                let _ = stop.send(());
                (&mut subgraph.task).await??;
            }
        }
        self.db.close().await.context("closing the database")?;
        Ok(())
    }
}

pub async fn connect_and_migrate(
    database_url: &str,
) -> anyhow::Result<(DatabaseConnection, StatementCounter)> {
    let (db, statements) = connect(database_url).await?;
    Migrator::up(&db, None)
        .await
        .context("running database migrations")?;
    Ok((db, statements))
}

pub async fn connect(database_url: &str) -> anyhow::Result<(DatabaseConnection, StatementCounter)> {
    db::connect(database_url).await.map_err(|e| {
        anyhow!(
            "cannot open database {}: {e}",
            crate::config::redact_password(database_url)
        )
    })
}

/// `POST /oauth/token` on the public port is answered by the apps subgraph.
pub fn oauth_passthrough(apps_graphql_url: &str) -> BTreeMap<String, String> {
    let base = apps_graphql_url.trim_end_matches("/graphql");
    BTreeMap::from([(
        nexus_apps::installation_tokens::TOKEN_PATH.to_owned(),
        format!("{base}{}", nexus_apps::installation_tokens::TOKEN_PATH),
    )])
}

fn subgraph_url(subgraphs: &[RunningSubgraph], name: &str) -> anyhow::Result<String> {
    subgraphs
        .iter()
        .find(|s| s.name == name)
        .map(|s| format!("http://{}/graphql", s.addr))
        .ok_or_else(|| anyhow!("no {name} subgraph"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            crate::config::redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            crate::config::redact_password("sqlite://.nexus/nexus.db"),
            "sqlite://.nexus/nexus.db"
        );
    }
}
