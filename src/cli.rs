//! The command line: `nexus dev | serve | migrate | compose | schema`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "nexus",
    version,
    about = "Nexus: an open app-platform core served as one GraphQL supergraph"
)]
pub struct Cli {
    /// Database to use: `sqlite://PATH` or `postgres://USER@HOST/DB`.
    /// Default: the embedded SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Where `nexus dev` keeps its SQLite file and development keys.
    #[arg(long, env = "NEXUS_DATA_DIR", default_value = ".nexus", global = true)]
    pub data_dir: PathBuf,

    /// The signing-key file (Ed25519 keys of the tokens). Default: `signing-keys.json` in the data
    /// directory, generated on first run. In production, point it at a mounted secret.
    #[arg(long, env = "NEXUS_KEYS_FILE", global = true)]
    pub keys_file: Option<PathBuf>,

    /// The tokens' issuer (`iss`) and OIDC issuer. Default: the router's URL.
    #[arg(long, env = "NEXUS_ISSUER", global = true)]
    pub issuer: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run everything in one process: migrations, the core subgraphs and the router.
    Dev {
        /// Router address; the subgraphs take the next three ports.
        #[arg(long, default_value = "127.0.0.1:4000")]
        listen: SocketAddr,
        /// Load a small demo data set (organizations acme and globex, two apps) if it is not there yet.
        #[arg(long)]
        seed: bool,
    },
    /// Run one service in this process (for deployments: one process per service).
    Serve {
        service: Service,
        /// Address to listen on. Default: 127.0.0.1:4000 for the router, 4001-4003 for the subgraphs.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The router: serve this supergraph file and never change it, instead of following the
        /// registry's head (e.g. `schema/supergraph.graphql`, the core alone).
        #[arg(long)]
        supergraph: Option<PathBuf>,
        /// The router and licensing: where identity listens (API keys are exchanged there;
        /// licensing checks organizations).
        #[arg(long, default_value = "http://127.0.0.1:4001")]
        identity_url: String,
        /// The router and licensing: where the apps service listens (the registry's supergraph
        /// feed, installations, `/oauth/token`; apps for licenses).
        #[arg(long, default_value = "http://127.0.0.1:4002")]
        apps_url: String,
        /// The apps service: where the licensing service listens.
        #[arg(long, default_value = "http://127.0.0.1:4003")]
        licensing_url: String,
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
    /// App developers: `nexus app submit manifest.json`.
    App {
        #[command(subcommand)]
        action: AppAction,
    },
    /// Platform administrators: `nexus admin grant EMAIL`, `nexus admin revoke EMAIL`.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Compose the supergraph from a rover-style `supergraph.yaml`.
    Compose {
        #[arg(long, default_value = "supergraph.yaml")]
        config: PathBuf,
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
pub enum KeysAction {
    /// Retire the active signing key and add a new one (creates the key file if missing).
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum AppAction {
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
pub enum AdminAction {
    /// Make a user a platform administrator.
    Grant { email: String },
    /// Take the platform-administrator flag away.
    Revoke { email: String },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Router,
    Identity,
    Apps,
    Licensing,
}

impl Cli {
    /// `DATABASE_URL`, else the embedded SQLite file in the data directory.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("nexus.db").display()
        ))
    }
}

impl Cli {
    pub fn keys_file(&self) -> PathBuf {
        self.keys_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-keys.json"))
    }
}
