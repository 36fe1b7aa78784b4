//! The command line: `nexus dev | serve | migrate | compose | schema`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "nexus",
    version,
    about = "Nexus: an open app-platform core served as one GraphQL supergraph"
)]
pub struct Cli {
    /// The configuration file (TOML). Default: `nexus.toml` in the working directory, if there
    /// is one. `NEXUS_*` variables override it (`NEXUS_APPS__URL` sets `[apps] url`), and the
    /// flags below override both. `nexus config print` shows the result.
    #[arg(long, env = "NEXUS_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Database to use: `sqlite://PATH` or `postgres://USER@HOST/DB`.
    /// Default: the embedded SQLite file in the data directory.
    #[arg(long, global = true)]
    pub database_url: Option<String>,

    /// Where `nexus dev` keeps its SQLite file and development keys (default `.nexus`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,

    /// The signing-key file (Ed25519 keys of the tokens). Default: `signing-keys.json` in the data
    /// directory, generated on first run. In production, point it at a mounted secret.
    #[arg(long, global = true)]
    pub keys_file: Option<PathBuf>,

    /// The key file for secrets kept encrypted at rest. Default: `secret-keys.json` beside the
    /// signing-key file.
    #[arg(long, global = true)]
    pub secrets_file: Option<PathBuf>,

    /// The tokens' issuer (`iss`) and OIDC issuer. Default: the router's URL.
    #[arg(long, global = true)]
    pub issuer: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run everything in one process: migrations, the core subgraphs and the router.
    Dev {
        /// Router address (default: `[router] listen`, 127.0.0.1:4000). With port 0 every service
        /// takes a free port; else the subgraphs listen where the configuration says.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Load a small demo data set (organizations acme and globex, two apps) if it is not there yet.
        #[arg(long)]
        seed: bool,
    },
    /// Run one service in this process (for deployments: one process per service).
    Serve {
        service: Service,
        /// Address to listen on. Default: the service's `listen` in the configuration.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The router: serve this supergraph file and never change it, instead of following the
        /// registry's head (e.g. `schema/supergraph.graphql`, the core alone).
        #[arg(long)]
        supergraph: Option<PathBuf>,
        /// Where identity is reached (default: `[identity] url`).
        #[arg(long)]
        identity_url: Option<String>,
        /// Where the apps service is reached (default: `[apps] url`).
        #[arg(long)]
        apps_url: Option<String>,
        /// Where the licensing service is reached (default: `[licensing] url`).
        #[arg(long)]
        licensing_url: Option<String>,
        /// The apps service and the router: accept and call app subgraphs on loopback and private
        /// addresses (development only: in production an app must never reach internal hosts).
        #[arg(long)]
        allow_private_subgraphs: bool,
    },
    /// Signing keys: `nexus keys rotate` adds a new key; old keys stay published until their
    /// tokens have expired.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Keys of secrets kept encrypted at rest: `nexus secrets rotate` adds one that encrypts
    /// from then on; `nexus secrets reencrypt` moves every stored secret to it.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// App developers: `nexus app new my-crm`, `nexus app submit manifest.json`.
    App {
        #[command(subcommand)]
        action: AppAction,
    },
    /// Platform administrators: `nexus admin grant EMAIL`, `nexus admin revoke EMAIL`.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The audit log: `nexus audit verify` checks its hash chain.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Apply pending database migrations.
    Migrate,
    /// The configuration: `nexus config print` shows the effective one, secrets redacted.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Compose the supergraph from a rover-style `supergraph.yaml`.
    Compose {
        /// The rover-style composition config.
        #[arg(long, default_value = "supergraph.yaml")]
        supergraph_config: PathBuf,
        /// Where to write the supergraph SDL; `-` for standard output.
        #[arg(long, default_value = "schema/supergraph.graphql")]
        output: PathBuf,
    },
    /// Write each core subgraph's federation SDL to `schema/<name>.graphql`.
    ExportSchema {
        #[arg(long, default_value = "schema")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Print the effective configuration (file, environment and flags) as TOML.
    Print,
}

#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Retire the active signing key and add a new one (creates the key file if missing).
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum SecretsAction {
    /// Add a key that encrypts from now on (creates the key file if missing); older keys still
    /// decrypt. Restart the services, then run `reencrypt`.
    Rotate,
    /// Encrypt every stored secret with the newest key (and those stored before encryption);
    /// afterwards older keys can be deleted from the file.
    Reencrypt,
}

#[derive(Subcommand, Debug)]
pub enum AppAction {
    /// Write a ready app project: `nexus app new my-crm --lang rust`.
    New {
        /// The app's name, which gives its namespace (`my-crm` → `mycrm`) and its directory.
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::app_kit::new::Lang,
        /// Where to create the project's directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// In an app's directory: the whole platform on loopback, the app approved under the review's
    /// own checks, installed and served; its files watched (or `r` + Enter) and reloaded.
    Dev {
        /// The app's directory (its manifest.json and nexus.dev.toml).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The graph's address (port 0: every service takes a free port).
        #[arg(long, default_value = "127.0.0.1:4000")]
        listen: SocketAddr,
        /// Use the `nexus dev` running at this URL (`http://127.0.0.1:4000`) instead of starting
        /// one; refused, with nothing changed, unless it is a development platform.
        #[arg(long, conflicts_with = "listen")]
        platform: Option<String>,
    },
    /// Webhooks of the app `nexus app dev` serves from this directory.
    Webhook {
        #[command(subcommand)]
        action: WebhookAction,
        /// The app's directory.
        #[arg(long, default_value = ".", global = true)]
        dir: PathBuf,
    },
    /// Submit an app version: prints IN_REVIEW, or every problem and exits non-zero.
    Submit {
        manifest: PathBuf,
        /// The Nexus GraphQL endpoint.
        #[arg(
            long,
            env = "NEXUS_URL",
            default_value = "http://127.0.0.1:4000/graphql"
        )]
        url: String,
        /// Your access token (from `logIn`).
        #[arg(long, env = "NEXUS_TOKEN")]
        token: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum WebhookAction {
    /// Send the app EVENT (any of the catalogue: `app.installed`, `member.added`, …) for its
    /// development installation, signed and retried as in production, and show its answer.
    Trigger { event: String },
}

#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Make a user a platform administrator (their email must be verified, unless --force).
    Grant {
        email: String,
        /// Grant even though nobody proved the address (whoever signed up with it first).
        #[arg(long)]
        force: bool,
    },
    /// Take the platform-administrator flag away.
    Revoke { email: String },
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Read the whole log and report the first entry that was changed, removed or inserted
    /// outside Nexus (exit status 1), or the newest entry's hash when the chain is whole.
    Verify,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Router,
    Identity,
    Apps,
    Licensing,
}

impl Cli {
    /// The configuration file and environment, with this command line's global flags over them.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.clone());
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(file) = &self.secrets_file {
            config.secrets_file = Some(file.clone());
        }
        if let Some(file) = &self.keys_file {
            config.keys_file = Some(file.clone());
        }
        if let Some(issuer) = &self.issuer {
            config.issuer = Some(issuer.clone());
        }
        Ok(config)
    }
}
