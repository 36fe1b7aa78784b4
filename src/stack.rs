//! The whole platform in one process: database, the three core subgraphs on loopback and the
//! router in front of them. `nexus dev` runs it; the end-to-end tests spawn it on random ports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use nexus_kit::db::{self, StatementCounter};
use nexus_kit::secret_box::SecretBox;
use nexus_kit::token::KeyStore;
use nexus_migrations::{Migrator, MigratorTrait};
use nexus_registry::Registry;
use nexus_router::{AuthOptions, RouterOptions, RunningRouter, SupergraphSource};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::core_subgraphs::{self, CORE_SUBGRAPHS, CoreSubgraph, Services};

/// A stack is built from a `Config`, like every other command; these are what a configuration
/// file cannot say, for tests.
#[derive(Clone, Debug, Default)]
pub struct StackOptions {
    pub config: Config,
    /// The router's own address policy for its calls to apps, when it differs from the
    /// registry's: tests set it apart to play a DNS answer that changed after review.
    pub router_allows_private_apps: Option<bool>,
    /// Health checks and license follow-ups more often than once a second.
    pub health_interval: Option<std::time::Duration>,
    pub license_sync_interval: Option<std::time::Duration>,
    /// Expired licenses looked for more often than `nexus_licensing::expiry::INTERVAL`.
    pub license_expiry_interval: Option<std::time::Duration>,
}

impl From<Config> for StackOptions {
    fn from(config: Config) -> Self {
        StackOptions {
            config,
            ..StackOptions::default()
        }
    }
}

/// The router's options as `config` says: the one place they are built, for `nexus serve
/// router` and a stack in one process alike.
pub fn router_options(config: &Config) -> anyhow::Result<RouterOptions> {
    let apps_graphql = format!("{}/graphql", config.apps.url);
    Ok(RouterOptions {
        listen: config.router.listen,
        subgraph_urls: BTreeMap::new(),
        overlay: config.router_overlay()?,
        auth: AuthOptions {
            keys_file: config.keys_file(),
            issuer: config.issuer(),
            api_key_exchange_url: format!(
                "{}{}",
                config.identity.url,
                nexus_protocol::internal::api_key::EXCHANGE_PATH
            ),
            membership_lookup_url: Some(format!(
                "{}{}",
                config.identity.url,
                nexus_protocol::internal::membership::PATH
            )),
            core_subgraphs: CORE_SUBGRAPHS.iter().map(|c| c.name.to_owned()).collect(),
            apps_url: apps_graphql,
            allow_private_apps: config.allow_private_apps,
            context_token_ttl: config.context_ttl(),
            freshness: config.freshness(),
        },
        passthrough: public_passthrough(config),
        trusted_proxies: config.trusted_proxies()?,
        rate_limits: config.rate_limits()?,
        port_limits: config.port_limits(),
    })
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
    webhooks: Option<nexus_apps::webhooks::Worker>,
    /// Periodic jobs, stopped before the database closes.
    jobs: Vec<JoinHandle<()>>,
}

impl Stack {
    pub async fn start(options: impl Into<StackOptions>) -> anyhow::Result<Stack> {
        let options = options.into();
        // The configuration, with the addresses actually bound written into it: from there on,
        // services and router are built exactly as `nexus serve` builds them.
        let mut config = options.config;
        let (db, statements) = connect_and_migrate(&config.database_url()?).await?;
        let requested = config.router.listen;
        // Bound now and kept: the issuer names this port before the router serves on it.
        let public = tokio::net::TcpListener::bind(requested)
            .await
            .map_err(|e| anyhow!("cannot listen on {requested}: {e}"))?;
        config.router.listen = public.local_addr()?;
        let keys = KeyStore::open_or_create(&config.keys_file(), &config.issuer())?;
        let secrets = SecretBox::open_or_create(&config.secrets_file())?;
        // Bind every subgraph first: the registry needs their URLs to compose. A router on port
        // 0 puts them on free ports too.
        let listeners = bind_subgraphs(&mut config, requested).await?;
        let registry = core_subgraphs::registry(
            core_subgraphs::served_sdl(&config),
            config.allow_private_apps,
        );
        let services = Services::from_config(
            &config,
            db.clone(),
            keys.clone(),
            secrets.clone(),
            registry.clone(),
        )?;
        let subgraphs = serve_subgraphs(listeners, &services)?;
        registry.publish(nexus_apps::startup(&db, &registry).await?);
        let mut jobs = nexus_apps::spawn_jobs(
            db.clone(),
            registry.clone(),
            nexus_apps::licensing_client(services.licensing_url.clone(), keys.clone()),
            options
                .health_interval
                .unwrap_or_else(|| config.health_interval()),
            options
                .license_sync_interval
                .unwrap_or_else(|| config.license_sync_interval()),
        );
        jobs.extend(housekeeping_jobs(
            &db,
            &keys,
            &config,
            options.license_expiry_interval,
        ));
        let webhooks = match config.webhooks.deliver {
            true => {
                let worker_db = worker_connection(&db, &config.database_url()?).await?;
                Some(nexus_apps::webhooks::spawn(
                    worker_db,
                    keys.clone(),
                    secrets.clone(),
                    config.webhook_settings(),
                )?)
            }
            false => None,
        };
        let router = start_router(
            public,
            &config,
            options.router_allows_private_apps,
            &registry,
        )
        .await?;
        Ok(Stack {
            db,
            registry,
            keys,
            statements,
            router,
            subgraphs,
            webhooks,
            jobs,
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
        // Background work first (an attempt in flight may still query the router), so nothing
        // writes to the database once it closes.
        for job in self.jobs.drain(..) {
            job.abort();
            let _ = job.await;
        }
        if let Some(webhooks) = self.webhooks.take() {
            webhooks.stop().await;
        }
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

/// Binds every core subgraph's listener and writes its address into `config`.
async fn bind_subgraphs(
    config: &mut Config,
    requested: SocketAddr,
) -> anyhow::Result<Vec<(&'static CoreSubgraph, tokio::net::TcpListener)>> {
    let mut listeners = Vec::new();
    for core in &CORE_SUBGRAPHS {
        let addr = match requested.port() {
            0 => SocketAddr::new(requested.ip(), 0),
            _ => config.listen_of(core.name),
        };
        let listener = nexus_kit::server::bind(addr).await?;
        config.place(core.name, listener.local_addr()?);
        listeners.push((core, listener));
    }
    Ok(listeners)
}

/// Serves each core subgraph on its listener until it is told to stop.
fn serve_subgraphs(
    listeners: Vec<(&'static CoreSubgraph, tokio::net::TcpListener)>,
    services: &Services,
) -> anyhow::Result<Vec<RunningSubgraph>> {
    let mut subgraphs = Vec::new();
    for (core, listener) in listeners {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(nexus_kit::server::serve(
            listener,
            (core.http_router)(services),
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
    Ok(subgraphs)
}

/// The platform's upkeep: audit sealing, retention and license expiry, on uncounted connections.
fn housekeeping_jobs(
    db: &DatabaseConnection,
    keys: &Arc<KeyStore>,
    config: &Config,
    license_expiry_interval: Option<std::time::Duration>,
) -> Vec<JoinHandle<()>> {
    vec![
        nexus_kit::audit::spawn_sealer(
            uncounted(db),
            keys.clone(),
            nexus_kit::audit::SEAL_INTERVAL,
        ),
        nexus_identity::accounts::retention::spawn(uncounted(db), config.retention()),
        nexus_apps::oauth::retention::spawn(uncounted(db), config.retention()),
        nexus_licensing::expiry::spawn(
            uncounted(db),
            license_expiry_interval.unwrap_or(nexus_licensing::expiry::INTERVAL),
        ),
    ]
}

/// Starts the router on the public listener, following the registry in this process.
async fn start_router(
    public: tokio::net::TcpListener,
    config: &Config,
    allows_private_apps: Option<bool>,
    registry: &Registry,
) -> anyhow::Result<RunningRouter> {
    let mut router_options = router_options(config)?;
    if let Some(allow) = allows_private_apps {
        router_options.auth.allow_private_apps = allow;
    }
    let router = nexus_router::start_on(
        public,
        router_options,
        // The router follows the registry's head: every published supergraph is a hot reload.
        SupergraphSource::InProcess(registry.subscribe()),
    )
    .await?;
    tracing::info!(url = %router.graphql_url(), "router listening");
    Ok(router)
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

/// The webhook worker's connection. On PostgreSQL its own pool: deliveries never wait for the
/// requests' connections, nor they for it. On SQLite the requests' one connection (one writer
/// per process, see `nexus_kit::db`), uncounted: the statement counter counts requests' SQL.
pub async fn worker_connection(
    db: &DatabaseConnection,
    database_url: &str,
) -> anyhow::Result<DatabaseConnection> {
    if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        return Ok(uncounted(db));
    }
    Ok(connect(database_url).await?.0)
}

/// `db`'s pool, for background jobs: the statement counter counts requests' SQL only.
pub fn uncounted(db: &DatabaseConnection) -> DatabaseConnection {
    let mut shared = db.clone();
    shared.set_metric_callback(|_| {});
    shared
}

pub async fn connect(database_url: &str) -> anyhow::Result<(DatabaseConnection, StatementCounter)> {
    db::connect(database_url).await.map_err(|e| {
        anyhow!(
            "cannot open database {}: {e}",
            crate::config::redact_password(database_url)
        )
    })
}

/// The paths of the public port that services answer beside the graph: the OAuth server's
/// (`/oauth/authorize`, `/oauth/token`, …) by apps, the pages letters link to (`/account/…`) by
/// identity.
pub fn public_passthrough(config: &Config) -> BTreeMap<String, String> {
    let at = |base: &str, paths: &[&str]| -> Vec<(String, String)> {
        paths
            .iter()
            .map(|path| ((*path).to_owned(), format!("{base}{path}")))
            .collect()
    };
    at(&config.apps.url, nexus_protocol::oauth::PATHS)
        .into_iter()
        .chain(at(
            &config.identity.url,
            nexus_identity::account_pages::PATHS,
        ))
        .collect()
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
