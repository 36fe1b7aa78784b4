//! The Nexus router: `apollo-router` embedded as a library, configured from `router.yaml`, fed
//! supergraph SDLs through a stream so a new supergraph is a hot reload.

pub mod app_client;
pub mod app_plane;
pub mod front_door;
pub mod installations;
pub mod lookups;
pub mod measure;
pub mod memberships;
pub mod pipeline;
pub mod plugins;
pub mod registry_follower;
pub mod supergraph_guard;
pub mod supergraph_source;
#[cfg(test)]
mod test_harness;

pub use supergraph_source::SupergraphSource;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use apollo_router::{
    Configuration, ConfigurationSource, RouterHttpServer, SchemaSource, ShutdownSource,
};
use futures::StreamExt;
use futures::channel::mpsc;
use serde_yaml::Value;

/// The checked-in configuration.
pub const ROUTER_YAML: &str = include_str!("../router.yaml");

pub struct RouterOptions {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Subgraph name → URL the router calls, overriding the supergraph's routing URLs.
    pub subgraph_urls: BTreeMap<String, String>,
    /// YAML merged over `router.yaml` (an operator's limits, rate limits, traffic shaping).
    pub overlay: Option<String>,
    pub auth: AuthOptions,
    /// Paths the public port serves from another service, path → URL (`/oauth/token` → apps).
    pub passthrough: BTreeMap<String, String>,
    /// Proxies whose `X-Forwarded-For` is believed (default: none).
    pub trusted_proxies: nexus_protocol::client_address::TrustedProxies,
    /// The rate-limit buckets (`nexus.rate_limit`): Redis, shared between replicas, or this
    /// process's.
    pub rate_limits: nexus_protocol::rate_limit::RateLimits,
    /// Connections and read timeouts of the public port.
    pub port_limits: front_door::PortLimits,
}

/// What the `nexus.auth` plugin needs.
#[derive(Clone, Debug)]
pub struct AuthOptions {
    pub keys_file: std::path::PathBuf,
    pub issuer: String,
    /// identity's `/api-keys/exchange`.
    pub api_key_exchange_url: String,
    /// identity's membership lookup (organizations' two-factor requirement).
    pub membership_lookup_url: Option<String>,
    /// The core subgraphs' names; every other subgraph is an app behind the installation gate.
    pub core_subgraphs: Vec<String>,
    /// The apps subgraph's GraphQL URL (installation lookups).
    pub apps_url: String,
    /// Let the router call apps on loopback and private addresses (development).
    pub allow_private_apps: bool,
    /// How long a context token (one call to an app) lives.
    pub context_token_ttl: Duration,
    /// How long cached answers about keys, tokens and installations are trusted.
    pub freshness: nexus_protocol::freshness::Freshness,
}

pub struct RunningRouter {
    server: RouterHttpServer,
    front_door: front_door::FrontDoor,
    addr: SocketAddr,
    /// The router's own listener on loopback, behind the front door.
    pipeline: SocketAddr,
    schemas: mpsc::UnboundedSender<String>,
    /// The name its rate-limit store and pipeline slot are registered under.
    name: String,
}

impl RunningRouter {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle for publishing supergraphs from elsewhere (see `publish`).
    pub fn publisher(&self) -> mpsc::UnboundedSender<String> {
        self.schemas.clone()
    }

    pub fn graphql_url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// The router pipeline itself, without the front door (for benchmarks: the public port's
    /// cost is measured against it).
    pub fn pipeline_url(&self) -> String {
        format!("http://{}/graphql", self.pipeline)
    }

    /// Hands the router a new supergraph; it swaps over without dropping requests, or keeps the
    /// current one if it cannot load the new one.
    pub fn publish(&self, supergraph_sdl: String) -> anyhow::Result<()> {
        self.schemas
            .unbounded_send(supergraph_sdl)
            .map_err(|_| anyhow!("the router has stopped"))
    }

    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        forget(&self.name);
        self.front_door.shutdown().await;
        self.server
            .shutdown()
            .await
            .map_err(|e| anyhow!("router shutdown: {e}"))
    }
}

/// `router.yaml`, with the operator's `overlay` merged over it, and the listen addresses,
/// subgraph URLs and plugin settings of this run. `router_name` names the rate-limit store and
/// the pipeline slot registered for this router (`plugins::rate_limit`, `pipeline`).
pub fn configuration(
    listen: SocketAddr,
    subgraph_urls: &BTreeMap<String, String>,
    overlay: Option<&str>,
    router_name: Option<&str>,
    auth: &AuthOptions,
) -> anyhow::Result<Configuration> {
    let mut yaml = merged_yaml(overlay)?;
    // The router's own parser and body reader stop where `nexus.limits` cannot see: keep them
    // behind its limits, so that its refusals (with their codes) come first.
    let limits = nexus_limits(&yaml)?;
    yaml["limits"]["router"]["parser_max_tokens"] =
        Value::from(limits.max_tokens.saturating_mul(2));
    yaml["limits"]["router"]["http_max_request_bytes"] =
        Value::from(limits.max_request_bytes.saturating_mul(2));
    if let Some(name) = router_name {
        yaml["plugins"]["nexus.rate_limit"]["store"] = Value::String(name.to_owned());
        // Outermost of Nexus's plugins (first in the list): it hands the public port a pipeline
        // with every other one inside.
        let timeout = yaml["traffic_shaping"]["router"]["timeout"]
            .as_str()
            .map(|t| humantime::parse_duration(t).context("invalid traffic_shaping.router.timeout"))
            .transpose()?;
        let mut plugins = serde_yaml::Mapping::new();
        plugins.insert(
            Value::from("nexus.pipeline"),
            serde_yaml::to_value(plugins::pipeline::PipelineConfig {
                router: Some(name.to_owned()),
                timeout_ms: timeout.map(|t| t.as_millis() as u64),
            })?,
        );
        if let Some(others) = yaml["plugins"].as_mapping() {
            plugins.extend(others.clone());
        }
        yaml["plugins"] = Value::Mapping(plugins);
    }
    let listen_value = Value::String(listen.to_string());
    yaml["supergraph"]["listen"] = listen_value.clone();
    yaml["health_check"]["listen"] = listen_value;
    let (auth_config, gate_config) = plugin_configs(listen, auth);
    yaml["plugins"]["nexus.auth"] = serde_yaml::to_value(auth_config)?;
    yaml["plugins"]["nexus.installation_gate"] = serde_yaml::to_value(gate_config)?;
    if !subgraph_urls.is_empty() {
        let mut urls = serde_yaml::Mapping::new();
        for (name, url) in subgraph_urls {
            urls.insert(Value::String(name.clone()), Value::String(url.clone()));
        }
        yaml["override_subgraph_url"] = Value::Mapping(urls);
    }
    let text = serde_yaml::to_string(&yaml).context("cannot write router configuration")?;
    Configuration::from_str(&text).map_err(|e| anyhow!("invalid router configuration: {e}"))
}

/// What Nexus's own plugins are configured with: the one `LookupsConfig` both share.
fn plugin_configs(
    listen: SocketAddr,
    auth: &AuthOptions,
) -> (
    plugins::auth::AuthConfig,
    plugins::installation_gate::GateConfig,
) {
    let lookups = lookups::LookupsConfig {
        keys_file: auth.keys_file.display().to_string(),
        issuer: auth.issuer.clone(),
        apps_url: auth.apps_url.clone(),
        installation_cache_seconds: auth.freshness.installations.as_secs(),
        membership_lookup_url: auth.membership_lookup_url.clone(),
        membership_cache_seconds: auth.freshness.memberships.as_secs(),
    };
    let auth_config = plugins::auth::AuthConfig {
        lookups: lookups.clone(),
        api_key_exchange_url: auth.api_key_exchange_url.clone(),
        listen: listen.to_string(),
        core_subgraphs: auth.core_subgraphs.clone(),
        api_key_cache_seconds: auth.freshness.api_keys.as_secs(),
        verified_token_cache_seconds: auth.freshness.verified_tokens.as_secs(),
    };
    let gate_config = plugins::installation_gate::GateConfig {
        lookups,
        core_subgraphs: auth.core_subgraphs.clone(),
        allow_private_apps: auth.allow_private_apps,
        context_token_ttl_seconds: auth.context_token_ttl.as_secs(),
    };
    (auth_config, gate_config)
}

/// `router.yaml` with the operator's `overlay` merged over it.
fn merged_yaml(overlay: Option<&str>) -> anyhow::Result<Value> {
    let mut yaml: Value = serde_yaml::from_str(ROUTER_YAML).context("router.yaml is not YAML")?;
    if let Some(overlay) = overlay {
        let overlay: Value =
            serde_yaml::from_str(overlay).context("the router configuration file is not YAML")?;
        merge(&mut yaml, overlay);
    }
    Ok(yaml)
}

fn nexus_limits(yaml: &Value) -> anyhow::Result<plugins::limits::LimitsConfig> {
    serde_yaml::from_value(yaml["plugins"]["nexus.limits"].clone())
        .context("invalid plugins.nexus.limits")
}

/// The most of a request body the public port reads: what the router itself would read
/// (`limits.router.http_max_request_bytes`, twice `nexus.limits`' own limit, which refuses with
/// its code first).
fn max_body_bytes(overlay: Option<&str>) -> anyhow::Result<usize> {
    let limits = nexus_limits(&merged_yaml(overlay)?)?;
    Ok(usize::try_from(limits.max_request_bytes.saturating_mul(2)).unwrap_or(usize::MAX))
}

/// `overlay` over `base`: mappings merge key by key, anything else replaces.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Starts the router behind its front door on the first supergraph of `source`, waits until it
/// answers on `/health`, and follows `source` from then on.
pub async fn start(
    options: RouterOptions,
    source: SupergraphSource,
) -> anyhow::Result<RunningRouter> {
    // The public address belongs to the front door; the router itself listens on loopback.
    let public = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| anyhow!("cannot listen on {}: {e}", options.listen))?;
    start_on(public, options, source).await
}

/// `start` on a public listener the caller bound already (so nobody can take its port between
/// choosing it and serving on it); `options.listen` is not used.
pub async fn start_on(
    public: tokio::net::TcpListener,
    options: RouterOptions,
    source: SupergraphSource,
) -> anyhow::Result<RunningRouter> {
    let public_addr = public.local_addr()?;
    let max_body = max_body_bytes(options.overlay.as_deref())?;
    // Named for this router: its plugins, rebuilt on every reload, find the same buckets and
    // hand their pipelines to this router's public port.
    let name = format!("router-{}", uuid::Uuid::new_v4());
    plugins::rate_limit::register_store(&name, options.rate_limits.clone());
    let slot = pipeline::register(&name);
    let started = match source.first().await {
        Ok(started) => started,
        Err(e) => {
            forget(&name);
            return Err(e);
        }
    };
    let supergraph_sdl = started.sdl.clone();
    // The router binds its loopback port itself, a moment after we picked a free one: another
    // process may take it in between, and then another free port is as good.
    let mut attempts = 0;
    let (server, addr, schemas) = loop {
        attempts += 1;
        match start_router(&options, &name, supergraph_sdl.clone()).await {
            Err(e) if attempts < 3 && format!("{e:#}").contains("Address already in use") => {
                tracing::warn!(error = %format!("{e:#}"), "the router's loopback port was taken; another one");
            }
            Err(e) => {
                forget(&name);
                return Err(e);
            }
            Ok(started) => break started,
        }
    };
    let front_door = front_door::FrontDoor::start(
        public,
        addr,
        slot,
        options.passthrough,
        options.trusted_proxies,
        options.port_limits,
        max_body,
        options.rate_limits.clone(),
        nexus_protocol::token::KeyStore::open(&options.auth.keys_file, &options.auth.issuer)?,
    )?;
    started.follow(schemas.clone());
    Ok(RunningRouter {
        server,
        front_door,
        addr: public_addr,
        pipeline: addr,
        schemas,
        name,
    })
}

/// Forgets what the router named `name` registered (its rate-limit store, its pipeline slot).
fn forget(name: &str) {
    plugins::rate_limit::unregister_store(name);
    pipeline::unregister(name);
}

/// The router itself on a free loopback port, once it answers on `/health`.
async fn start_router(
    options: &RouterOptions,
    name: &str,
    supergraph_sdl: String,
) -> anyhow::Result<(RouterHttpServer, SocketAddr, mpsc::UnboundedSender<String>)> {
    let addr = resolve_listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let configuration = configuration(
        addr,
        &options.subgraph_urls,
        options.overlay.as_deref(),
        Some(name),
        &options.auth,
    )?;
    supergraph_guard::check(&supergraph_sdl)
        .map_err(|e| anyhow!("refusing to load the supergraph: {e}"))?;
    let (schemas, stream) = mpsc::unbounded();
    schemas
        .unbounded_send(supergraph_sdl)
        .map_err(|_| anyhow!("schema stream closed"))?;
    // Every supergraph, from whichever publisher, passes the guard before the router sees it.
    let stream = stream.filter(|sdl| {
        let verdict = supergraph_guard::check(sdl);
        if let Err(e) = &verdict {
            tracing::error!(error = %e, "refused a supergraph; the current one keeps serving");
        }
        std::future::ready(verdict.is_ok())
    });
    let mut server = RouterHttpServer::builder()
        .configuration(ConfigurationSource::Static(Box::new(configuration)))
        .schema(SchemaSource::Stream(Box::pin(stream)))
        .shutdown(ShutdownSource::None)
        .is_telemetry_disabled(true)
        .start();
    tokio::select! {
        result = &mut server => {
            match result {
                Ok(()) => bail!("the router stopped while starting"),
                Err(e) => bail!("the router could not start on {addr}: {e} (see the log above)"),
            }
        }
        ready = wait_until_healthy(addr) => ready?,
    }
    Ok((server, addr, schemas))
}

/// apollo-router alone on `supergraph_sdl`, on a free loopback port, without Nexus's plugins and
/// passing the caller's `Authorization` on to every subgraph: the baseline against which
/// `nexus-bench --suite port` measures what the plugins cost. Not for serving anyone.
pub async fn start_plain(supergraph_sdl: String) -> anyhow::Result<(RouterHttpServer, SocketAddr)> {
    let addr = resolve_listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let mut yaml: Value = serde_yaml::from_str(ROUTER_YAML).context("router.yaml is not YAML")?;
    yaml["supergraph"]["listen"] = Value::String(addr.to_string());
    yaml["health_check"]["listen"] = Value::String(addr.to_string());
    if let Some(root) = yaml.as_mapping_mut() {
        root.remove("plugins");
    }
    yaml["headers"] = serde_yaml::to_value(serde_json::json!({
        "all": { "request": [{ "propagate": { "named": "authorization" } }] }
    }))?;
    let text = serde_yaml::to_string(&yaml).context("cannot write router configuration")?;
    let configuration =
        Configuration::from_str(&text).map_err(|e| anyhow!("invalid router configuration: {e}"))?;
    let server = RouterHttpServer::builder()
        .configuration(ConfigurationSource::Static(Box::new(configuration)))
        .schema(SchemaSource::Static {
            schema_sdl: supergraph_sdl,
        })
        .shutdown(ShutdownSource::None)
        .is_telemetry_disabled(true)
        .start();
    wait_until_healthy(addr).await?;
    Ok((server, addr))
}

/// A concrete address for the router to bind, with a clear error if it is taken.
pub fn resolve_listen(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    // The router binds the address itself; binding it here first turns "port taken" into a
    // one-line error and turns port 0 into a real port we can report.
    let probe = TcpListener::bind(listen).map_err(|e| anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = probe.local_addr()?;
    drop(probe);
    Ok(addr)
}

async fn wait_until_healthy(addr: SocketAddr) -> anyhow::Result<()> {
    let url = format!("http://{addr}/health");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            drop(stream);
            if health_ok(&url).await {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the router did not become healthy at {url} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health_ok(url: &str) -> bool {
    match reqwest::get(url).await {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Parsing a configuration spawns router tasks, hence the runtime.
    #[tokio::test]
    async fn checked_in_configuration_is_valid_for_the_router() {
        let mut urls = BTreeMap::new();
        urls.insert(
            "identity".to_owned(),
            "http://127.0.0.1:9/graphql".to_owned(),
        );
        let listen = SocketAddr::from(([127, 0, 0, 1], 4999));
        let auth = AuthOptions {
            keys_file: "/nonexistent/keys.json".into(),
            issuer: "http://127.0.0.1:4999".into(),
            api_key_exchange_url: "http://127.0.0.1:4001/api-keys/exchange".into(),
            membership_lookup_url: None,
            core_subgraphs: vec!["identity".into()],
            apps_url: "http://127.0.0.1:4002/graphql".into(),
            allow_private_apps: false,
            context_token_ttl: Duration::from_secs(300),
            freshness: Default::default(),
        };
        let config = configuration(listen, &urls, None, None, &auth);
        assert!(config.is_ok(), "{:?}", config.err());
        let tightened = configuration(
            listen,
            &urls,
            Some("plugins:\n  nexus.limits:\n    max_depth: 3\n"),
            None,
            &auth,
        );
        assert!(tightened.is_ok(), "{:?}", tightened.err());
        let unknown = configuration(
            listen,
            &urls,
            Some("plugins:\n  nexus.limits:\n    max_dept: 3\n"),
            None,
            &auth,
        );
        assert!(
            unknown
                .err()
                .is_some_and(|e| format!("{e:#}").contains("max_dept")),
            "a misspelt limit is refused, not ignored"
        );
    }
}
