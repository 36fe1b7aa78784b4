//! One configuration for every command. Layers, each over the one before: defaults (which run
//! `nexus dev` with no file), the TOML file (`--config FILE`, else `nexus.toml` if present),
//! `NEXUS_*` environment variables (`NEXUS_APPS__URL` sets `[apps] url`; `DATABASE_URL` too), and
//! last the command line's own flags. `nexus config print` shows the result, secrets redacted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The file read when `--config` names none.
pub const DEFAULT_FILE: &str = "nexus.toml";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where `nexus dev` keeps its SQLite file and development keys.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`. Default: SQLite in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// The Ed25519 signing-key file. Default: `signing-keys.json` in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_file: Option<PathBuf>,
    /// The key file for secrets kept encrypted at rest (TOTP seeds, webhook signing secrets).
    /// Default: `secret-keys.json` beside `keys_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_file: Option<PathBuf>,
    /// The tokens' `iss`, and the OIDC issuer. Default: the router's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Accept and call app subgraphs on loopback and private addresses (development only; `nexus
    /// dev` always does).
    pub allow_private_apps: bool,
    /// A development platform (`nexus dev`, `nexus app dev`): an app's own developer may approve
    /// its versions (`approveOwnAppVersion`) and send it any event (`triggerWebhook`). Set by
    /// those commands only, never from a file.
    #[serde(skip)]
    pub development: bool,
    /// `redis://HOST:PORT/DB`: rate limits shared by every replica. Default: each process counts
    /// on its own (fine for one process, e.g. `nexus dev`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// When Redis cannot be asked: `allow` (let requests through, the default) or `refuse`.
    pub redis_on_error: nexus_protocol::rate_limit::OnStoreError,
    /// Every key Nexus writes in Redis starts with this (several platforms can share a Redis).
    pub redis_key_prefix: String,
    pub router: RouterConfig,
    pub identity: ServiceConfig,
    pub apps: AppsConfig,
    pub licensing: ServiceConfig,
    pub tokens: TokensConfig,
    pub caches: CachesConfig,
    pub webhooks: WebhooksConfig,
    pub mail: MailConfig,
    pub retention: RetentionConfig,
}

/// Finished sign-in material (used or expired OAuth codes, refresh tokens, second-factor
/// challenges, mailed tokens): how long it is kept, and how often each service deletes what is
/// older. (Webhook deliveries have their own: `[webhooks] retention_days`.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// At least 1 (mail limits count a day of letters from these rows).
    pub days: u64,
    pub interval_seconds: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let retention = nexus_kit::retention::Retention::default();
        RetentionConfig {
            days: retention.keep.as_secs() / 86_400,
            interval_seconds: retention.interval.as_secs(),
        }
    }
}

/// Mail to people (verification, password reset, invitations), sent by identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://HOST:PORT` (plain, e.g. a relay on the same host), `smtp://…?tls=required`
    /// (STARTTLS) or `smtps://USER:PASSWORD@HOST` (TLS). Default: none — letters are written to
    /// `folder` and their links logged (development).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Nexus <no-reply@example.com>`.
    pub from: String,
    /// Where letters go without SMTP. Default: `mail` in `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<PathBuf>,
    /// Invitations one organization may send in any 24 hours (then `RATE_LIMITED`).
    pub invitations_per_organization_per_day: u64,
    /// Invitations one person may send in any 24 hours, all their organizations together.
    pub invitations_per_inviter_per_day: u64,
    /// Letters (verification, a new address, password reset) one account may be sent in any 24
    /// hours.
    pub letters_per_account_per_day: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Nexus <no-reply@nexus.localhost>".to_owned(),
            folder: None,
            invitations_per_organization_per_day: 50,
            invitations_per_inviter_per_day: 50,
            letters_per_account_per_day: 10,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// The public port: `POST /graphql`, `/oauth/token`, the JWKS.
    pub listen: SocketAddr,
    /// Its base URL as the other services reach it (webhook payload queries). Default:
    /// `http://` and `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A `router.yaml` merged over Nexus's own (`router/router.yaml`): operation limits, rate
    /// limits, traffic shaping, e.g. `plugins: { nexus.limits: { max_depth: 30 } }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    /// Proxies in front of the router whose `X-Forwarded-For` is believed, as addresses or
    /// networks (`["10.0.0.0/8"]`). Default: none, so the client is the connection's peer.
    pub trusted_proxies: Vec<String>,
    /// Open client connections on the public port; more are closed at once.
    pub max_connections: usize,
    /// A connection must complete a request's headers within this of its accept or of its last
    /// answer, HTTP/1 or HTTP/2, whatever it sent meanwhile; else it is closed (slowloris, idle
    /// connections holding a permit).
    pub header_read_timeout_seconds: u64,
    /// ... and its body within this (else 408).
    pub body_read_timeout_seconds: u64,
    /// How long a request waits for the router while it restarts (browsers' requests and
    /// `/oauth/token` take the router's own loopback port).
    pub restart_wait_seconds: u64,
    /// Requests one client address may make to the OAuth endpoints and the account pages
    /// (`/oauth/*`, `/account/*`, which GraphQL's budgets do not cover) per minute; then 429.
    pub oauth_requests_per_minute: u64,
}

/// A core subgraph: where it listens, and where the others reach it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub listen: SocketAddr,
    /// Its base URL as the router and the other services reach it (no `/graphql`).
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppsConfig {
    pub listen: SocketAddr,
    pub url: String,
    /// How often live apps are health-checked.
    pub health_interval_seconds: u64,
    /// How often installations of paid apps follow their licenses.
    pub license_sync_interval_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    /// How long a user's access token lives: 30 to 3600 seconds.
    pub access_ttl_seconds: u64,
    /// How long an app's installation token (`POST /oauth/token`) lives: 30 to 3600 seconds.
    pub installation_ttl_seconds: u64,
    /// How long the context token the router mints for one call to an app lives: 30 to 3600.
    pub context_ttl_seconds: u64,
}

/// How long cached answers about access are trusted: each is the longest a revocation takes to
/// bite, against a lookup per request when it is 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CachesConfig {
    /// A revoked API key stops working within this (router): 0 to 60.
    pub api_key_seconds: u64,
    /// A bearer token's signature is checked once per this (router; expiry is checked on every
    /// request): 0 to 3600.
    pub verified_token_seconds: u64,
    /// Installs, uninstalls, suspensions and scope changes reach the router within this: 0 to 60.
    pub installation_seconds: u64,
    /// A removed member or a changed role reaches the apps service, licensing and the apps the
    /// router calls (their context tokens) within this: 0 to 60.
    pub membership_seconds: u64,
}

impl Default for CachesConfig {
    fn default() -> Self {
        let freshness = nexus_protocol::freshness::Freshness::default();
        CachesConfig {
            api_key_seconds: freshness.api_keys.as_secs(),
            verified_token_seconds: freshness.verified_tokens.as_secs(),
            installation_seconds: freshness.installations.as_secs(),
            membership_seconds: freshness.memberships.as_secs(),
        }
    }
}

/// Webhook deliveries to apps (the apps service delivers them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether this process (`nexus dev`, `nexus serve apps`) delivers webhooks. Any number of
    /// processes may, on PostgreSQL; on SQLite, one.
    pub deliver: bool,
    /// One attempt's time limit: 1 to 60.
    pub timeout_seconds: u64,
    /// The waits between attempts; when they run out, the delivery has failed.
    pub retry_schedule_seconds: Vec<u64>,
    /// An endpoint failing every attempt this long is disabled.
    pub disable_after_hours: u64,
    /// How long finished deliveries and their events are kept (and can be replayed).
    pub retention_days: u64,
    /// Deliveries to one app in flight at once, per worker.
    pub per_endpoint: usize,
    /// How often an idle worker looks for new events.
    pub poll_interval_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let settings = nexus_apps::webhooks::Settings::default();
        WebhooksConfig {
            deliver: true,
            timeout_seconds: settings.timeout.as_secs(),
            retry_schedule_seconds: settings.schedule.iter().map(Duration::as_secs).collect(),
            disable_after_hours: settings.disable_after.as_secs() / 3600,
            retention_days: settings.retention.as_secs() / 86_400,
            per_endpoint: settings.per_endpoint,
            poll_interval_ms: settings.poll_interval.as_millis() as u64,
        }
    }
}

fn local(port: u16) -> ServiceConfig {
    ServiceConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        url: format!("http://127.0.0.1:{port}"),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(".nexus"),
            database_url: None,
            keys_file: None,
            secrets_file: None,
            issuer: None,
            allow_private_apps: false,
            development: false,
            redis_url: None,
            redis_on_error: Default::default(),
            redis_key_prefix: "nexus".to_owned(),
            router: RouterConfig::default(),
            identity: local(4001),
            apps: AppsConfig::default(),
            licensing: local(4003),
            tokens: TokensConfig::default(),
            caches: CachesConfig::default(),
            webhooks: WebhooksConfig::default(),
            mail: MailConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            url: None,
            config_file: None,
            trusted_proxies: Vec::new(),
            max_connections: 10_000,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 30,
            restart_wait_seconds: 10,
            oauth_requests_per_minute: 600,
        }
    }
}

impl Default for AppsConfig {
    fn default() -> Self {
        let service = local(4002);
        AppsConfig {
            listen: service.listen,
            url: service.url,
            health_interval_seconds: 30,
            license_sync_interval_seconds: 15,
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            access_ttl_seconds: 15 * 60,
            installation_ttl_seconds: 15 * 60,
            context_ttl_seconds: 5 * 60,
        }
    }
}

/// Every key the environment may set, dotted (`apps.url` is `NEXUS_APPS__URL`). Other `NEXUS_*`
/// variables (`NEXUS_TOKEN` for `nexus app submit`, `NEXUS_LOG_FORMAT`, …) are not configuration.
const ENV_KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "keys_file",
    "secrets_file",
    "issuer",
    "allow_private_apps",
    "redis_url",
    "redis_on_error",
    "redis_key_prefix",
    "router.listen",
    "router.url",
    "router.config_file",
    "router.trusted_proxies",
    "router.max_connections",
    "router.header_read_timeout_seconds",
    "router.body_read_timeout_seconds",
    "router.restart_wait_seconds",
    "router.oauth_requests_per_minute",
    "identity.listen",
    "identity.url",
    "apps.listen",
    "apps.url",
    "apps.health_interval_seconds",
    "apps.license_sync_interval_seconds",
    "licensing.listen",
    "licensing.url",
    "tokens.access_ttl_seconds",
    "tokens.installation_ttl_seconds",
    "tokens.context_ttl_seconds",
    "caches.api_key_seconds",
    "caches.verified_token_seconds",
    "caches.installation_seconds",
    "caches.membership_seconds",
    "webhooks.deliver",
    "webhooks.timeout_seconds",
    "webhooks.retry_schedule_seconds",
    "webhooks.disable_after_hours",
    "webhooks.retention_days",
    "webhooks.per_endpoint",
    "webhooks.poll_interval_ms",
    "mail.smtp_url",
    "mail.from",
    "mail.folder",
    "mail.invitations_per_organization_per_day",
    "mail.invitations_per_inviter_per_day",
    "mail.letters_per_account_per_day",
    "retention.days",
    "retention.interval_seconds",
];

impl Config {
    /// Defaults, then `file` (or `nexus.toml` in the working directory, if there is one), then the
    /// environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("no configuration file at {}", path.display());
                }
                figment = figment.merge(Toml::file(path));
            }
            None if Path::new(DEFAULT_FILE).exists() => {
                figment = figment.merge(Toml::file(DEFAULT_FILE));
            }
            None => {}
        }
        let env = Env::prefixed("NEXUS_").filter_map(|key| {
            let dotted = key.as_str().to_ascii_lowercase().replace("__", ".");
            ENV_KEYS.contains(&dotted.as_str()).then(|| dotted.into())
        });
        let config: Config = figment
            .merge(env)
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            )
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        self.check_token_lifetimes()?;
        self.check_nonzero()?;
        self.check_upper_bounds()?;
        self.check_service_urls()?;
        self.trusted_proxies()
            .map_err(|e| anyhow::anyhow!("invalid configuration: router.trusted_proxies: {e}"))?;
        self.check_redis_url()
    }

    /// Every token lifetime between 30 seconds and the longest a token may live.
    fn check_token_lifetimes(&self) -> anyhow::Result<()> {
        let max = nexus_kit::token::MAX_TOKEN_LIFETIME.as_secs();
        for (name, ttl) in [
            ("tokens.access_ttl_seconds", self.tokens.access_ttl_seconds),
            (
                "tokens.installation_ttl_seconds",
                self.tokens.installation_ttl_seconds,
            ),
            (
                "tokens.context_ttl_seconds",
                self.tokens.context_ttl_seconds,
            ),
        ] {
            if !(30..=max).contains(&ttl) {
                bail!("invalid configuration: {name} is {ttl}; use 30 to {max}");
            }
        }
        Ok(())
    }

    /// Limits, intervals and timeouts that must not be 0.
    fn check_nonzero(&self) -> anyhow::Result<()> {
        for (name, value) in [
            ("router.max_connections", self.router.max_connections as u64),
            (
                "router.header_read_timeout_seconds",
                self.router.header_read_timeout_seconds,
            ),
            (
                "router.body_read_timeout_seconds",
                self.router.body_read_timeout_seconds,
            ),
            (
                "router.oauth_requests_per_minute",
                self.router.oauth_requests_per_minute,
            ),
            (
                "apps.health_interval_seconds",
                self.apps.health_interval_seconds,
            ),
            (
                "apps.license_sync_interval_seconds",
                self.apps.license_sync_interval_seconds,
            ),
            ("webhooks.timeout_seconds", self.webhooks.timeout_seconds),
            ("webhooks.per_endpoint", self.webhooks.per_endpoint as u64),
            ("webhooks.poll_interval_ms", self.webhooks.poll_interval_ms),
            (
                "webhooks.disable_after_hours",
                self.webhooks.disable_after_hours,
            ),
            ("webhooks.retention_days", self.webhooks.retention_days),
            (
                "mail.invitations_per_organization_per_day",
                self.mail.invitations_per_organization_per_day,
            ),
            (
                "mail.invitations_per_inviter_per_day",
                self.mail.invitations_per_inviter_per_day,
            ),
            (
                "mail.letters_per_account_per_day",
                self.mail.letters_per_account_per_day,
            ),
        ] {
            if value == 0 {
                bail!("invalid configuration: {name} must be at least 1");
            }
        }
        Ok(())
    }

    /// Cache lifetimes and timeouts with an upper bound.
    fn check_upper_bounds(&self) -> anyhow::Result<()> {
        for (name, value, max) in [
            ("caches.api_key_seconds", self.caches.api_key_seconds, 60),
            (
                "caches.verified_token_seconds",
                self.caches.verified_token_seconds,
                3600,
            ),
            (
                "caches.installation_seconds",
                self.caches.installation_seconds,
                60,
            ),
            (
                "caches.membership_seconds",
                self.caches.membership_seconds,
                60,
            ),
            (
                "webhooks.timeout_seconds",
                self.webhooks.timeout_seconds,
                60,
            ),
        ] {
            if value > max {
                bail!("invalid configuration: {name} is {value}; use 0 to {max}");
            }
        }
        Ok(())
    }

    /// The services' URLs parse.
    fn check_service_urls(&self) -> anyhow::Result<()> {
        for (name, url) in [
            ("identity.url", &self.identity.url),
            ("apps.url", &self.apps.url),
            ("licensing.url", &self.licensing.url),
        ] {
            reqwest::Url::parse(url)
                .with_context(|| format!("invalid configuration: {name} `{url}` is not a URL"))?;
        }
        Ok(())
    }

    /// A Redis URL, when configured, has a Redis scheme.
    fn check_redis_url(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.redis_url {
            let scheme_ok = reqwest::Url::parse(url).is_ok_and(|u| {
                ["redis", "rediss", "redis-cluster", "redis-sentinel"].contains(&u.scheme())
            });
            if !scheme_ok {
                bail!(
                    "invalid configuration: redis_url `{}` is not a redis:// URL",
                    redact_password(url)
                );
            }
        }
        Ok(())
    }

    /// The database URL: as configured, else the embedded SQLite file in the data directory.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("nexus.db").display()
        ))
    }

    /// How identity sends mail, as configured (links start at the issuer, the public URL).
    pub fn mailer(&self) -> anyhow::Result<nexus_identity::mail::Mailer> {
        let folder = self
            .mail
            .folder
            .clone()
            .unwrap_or_else(|| self.data_dir.join("mail"));
        let mut mailer = nexus_identity::mail::Mailer::new(
            self.mail.smtp_url.as_deref(),
            folder,
            &self.mail.from,
            &self.issuer(),
        )?;
        mailer.limits = nexus_identity::mail::MailLimits {
            invitations_per_organization: self.mail.invitations_per_organization_per_day,
            invitations_per_inviter: self.mail.invitations_per_inviter_per_day,
            letters_per_account: self.mail.letters_per_account_per_day,
        };
        Ok(mailer)
    }

    pub fn keys_file(&self) -> PathBuf {
        self.keys_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-keys.json"))
    }

    pub fn secrets_file(&self) -> PathBuf {
        self.secrets_file
            .clone()
            .unwrap_or_else(|| self.keys_file().with_file_name("secret-keys.json"))
    }

    /// The router's base URL as the services reach it: as configured, else its listen address.
    pub fn router_url(&self) -> String {
        self.router
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.router.listen))
    }

    /// The issuer: as configured, else the router's URL.
    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.router.listen))
    }

    /// The base URL of the core subgraph `name` (identity, apps, licensing).
    pub fn url_of(&self, name: &str) -> &str {
        match name {
            "identity" => &self.identity.url,
            "apps" => &self.apps.url,
            _ => &self.licensing.url,
        }
    }

    pub fn health_interval(&self) -> Duration {
        Duration::from_secs(self.apps.health_interval_seconds)
    }

    pub fn license_sync_interval(&self) -> Duration {
        Duration::from_secs(self.apps.license_sync_interval_seconds)
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.tokens.access_ttl_seconds)
    }

    pub fn installation_ttl(&self) -> Duration {
        Duration::from_secs(self.tokens.installation_ttl_seconds)
    }

    pub fn context_ttl(&self) -> Duration {
        Duration::from_secs(self.tokens.context_ttl_seconds)
    }

    pub fn freshness(&self) -> nexus_protocol::freshness::Freshness {
        nexus_protocol::freshness::Freshness {
            api_keys: Duration::from_secs(self.caches.api_key_seconds),
            verified_tokens: Duration::from_secs(self.caches.verified_token_seconds),
            installations: Duration::from_secs(self.caches.installation_seconds),
            memberships: Duration::from_secs(self.caches.membership_seconds),
        }
    }

    /// How long finished sign-in material is kept, and how often it is pruned.
    pub fn retention(&self) -> nexus_kit::retention::Retention {
        nexus_kit::retention::Retention {
            keep: Duration::from_secs(self.retention.days.max(1) * 86_400),
            interval: Duration::from_secs(self.retention.interval_seconds.max(1)),
        }
    }

    /// How the apps service delivers webhooks.
    pub fn webhook_settings(&self) -> nexus_apps::webhooks::Settings {
        let w = &self.webhooks;
        let timeout = Duration::from_secs(w.timeout_seconds);
        nexus_apps::webhooks::Settings {
            poll_interval: Duration::from_millis(w.poll_interval_ms),
            timeout,
            schedule: w
                .retry_schedule_seconds
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            disable_after: Duration::from_secs(w.disable_after_hours * 3600),
            per_endpoint: w.per_endpoint,
            // A claimed delivery stays this worker's well past one attempt.
            lease: timeout * 4,
            retention: Duration::from_secs(w.retention_days * 86_400),
            allow_private: self.allow_private_apps,
            graphql_url: Some(format!("{}/graphql", self.router_url())),
            ..Default::default()
        }
    }

    /// Where the core subgraph `name` listens.
    pub fn listen_of(&self, name: &str) -> SocketAddr {
        match name {
            "identity" => self.identity.listen,
            "apps" => self.apps.listen,
            _ => self.licensing.listen,
        }
    }

    /// The core subgraph `name` listens at `addr` and is reached there (a stack in one process,
    /// once its ports are bound).
    pub fn place(&mut self, name: &str, addr: SocketAddr) {
        let url = format!("http://{addr}");
        match name {
            "identity" => self.identity = ServiceConfig { listen: addr, url },
            "apps" => (self.apps.listen, self.apps.url) = (addr, url),
            _ => self.licensing = ServiceConfig { listen: addr, url },
        }
    }

    /// The rate-limit store every service shares: Redis if `redis_url` is set, else in memory.
    pub fn rate_limits(&self) -> anyhow::Result<nexus_protocol::rate_limit::RateLimits> {
        nexus_protocol::rate_limit::RateLimits::from_url(
            self.redis_url.as_deref(),
            &self.redis_key_prefix,
            self.redis_on_error,
        )
    }

    pub fn port_limits(&self) -> nexus_router::front_door::PortLimits {
        nexus_router::front_door::PortLimits {
            max_connections: self.router.max_connections,
            header_read_timeout: Duration::from_secs(self.router.header_read_timeout_seconds),
            body_read_timeout: Duration::from_secs(self.router.body_read_timeout_seconds),
            restart_wait: Duration::from_secs(self.router.restart_wait_seconds),
            passthrough_per_minute: self.router.oauth_requests_per_minute,
        }
    }

    pub fn trusted_proxies(
        &self,
    ) -> anyhow::Result<nexus_protocol::client_address::TrustedProxies> {
        nexus_protocol::client_address::TrustedProxies::parse(&self.router.trusted_proxies)
    }

    /// The text of `router.config_file`, if one is set.
    pub fn router_overlay(&self) -> anyhow::Result<Option<String>> {
        self.router
            .config_file
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read router.config_file {}", path.display()))
            })
            .transpose()
    }

    /// The effective configuration as TOML, with the database password redacted.
    pub fn print(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        shown.database_url = shown.database_url.map(|url| redact_password(&url));
        shown.redis_url = shown.redis_url.map(|url| redact_password(&url));
        shown.mail.smtp_url = shown.mail.smtp_url.map(|url| redact_password(&url));
        toml::to_string_pretty(&shown).context("cannot print the configuration")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db` (for logs, errors and
/// `nexus config print`).
pub fn redact_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_nexus_dev_and_print_without_secrets() {
        let config = Config {
            database_url: Some("postgres://nexus:hunter2@db.internal:5432/nexus".into()),
            ..Config::default()
        };
        let printed = config.print().expect("prints");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://nexus:***@db.internal:5432/nexus"),
            "{printed}"
        );
        assert!(
            printed.contains("[apps]\nlisten = \"127.0.0.1:4002\""),
            "{printed}"
        );
        let back: Config = toml::from_str(&printed).expect("reads back");
        assert_eq!(back.apps, config.apps);
    }

    #[test]
    fn a_file_sets_what_it_names_and_refuses_what_it_does_not_know() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("nexus.toml");
        std::fs::write(
            &path,
            "[identity]\nlisten = \"0.0.0.0:5001\"\nurl = \"http://identity.internal:5001\"\n\
             [apps]\nhealth_interval_seconds = 5\n",
        )
        .expect("write");
        let config = Config::load(Some(&path)).expect("loads");
        assert_eq!(config.identity.url, "http://identity.internal:5001");
        assert_eq!(config.apps.health_interval_seconds, 5);
        assert_eq!(config.apps.listen, AppsConfig::default().listen);

        std::fs::write(&path, "[apps]\nhealth_interval = 5\n").expect("write");
        let err = Config::load(Some(&path)).expect_err("unknown key");
        assert!(format!("{err:#}").contains("health_interval"), "{err:#}");
        std::fs::write(&path, "[tokens]\naccess_ttl_seconds = 5\n").expect("write");
        let err = Config::load(Some(&path)).expect_err("too short");
        assert!(format!("{err:#}").contains("30 to 3600"), "{err:#}");
        std::fs::write(&path, "[tokens]\ncontext_ttl_seconds = 7200\n").expect("write");
        let err = Config::load(Some(&path)).expect_err("too long");
        assert!(
            format!("{err:#}").contains("tokens.context_ttl_seconds is 7200"),
            "{err:#}"
        );
        std::fs::write(&path, "[tokens]\ninstallation_ttl_seconds = 600\n").expect("write");
        let config = Config::load(Some(&path)).expect("loads");
        assert_eq!(config.installation_ttl(), Duration::from_secs(600));
        assert_eq!(config.context_ttl(), Duration::from_secs(300));
        std::fs::write(
            &path,
            "[caches]\nmembership_seconds = 0\napi_key_seconds = 60\n",
        )
        .expect("write");
        let freshness = Config::load(Some(&path)).expect("loads").freshness();
        assert_eq!(freshness.memberships, Duration::ZERO);
        assert_eq!(freshness.api_keys, Duration::from_secs(60));
        assert_eq!(freshness.installations, Duration::from_secs(1));
        std::fs::write(&path, "[caches]\napi_key_seconds = 61\n").expect("write");
        let err = Config::load(Some(&path)).expect_err("too long");
        assert!(
            format!("{err:#}").contains("caches.api_key_seconds is 61; use 0 to 60"),
            "{err:#}"
        );
        let err = Config::load(Some(&dir.path().join("missing.toml"))).expect_err("missing");
        assert!(
            format!("{err:#}").contains("no configuration file"),
            "{err:#}"
        );
    }
}
