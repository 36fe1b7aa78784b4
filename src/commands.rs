//! What each subcommand does.

use std::path::Path;

use anyhow::{Context, anyhow};
use nexus_kit::secret_box::SecretBox;
use nexus_kit::token::KeyStore;
use nexus_migrations::{Migrator, MigratorTrait};
use nexus_registry::supergraph_config::SupergraphConfig;
use nexus_router::SupergraphSource;

use crate::cli::{
    AdminAction, AppAction, AuditAction, Cli, Command, ConfigAction, KeysAction, SecretsAction,
    Service, WebhookAction,
};
use crate::config::Config;
use std::sync::Arc;

use crate::core_subgraphs::{self, CORE_SUBGRAPHS, Services};
use crate::seed;
use crate::stack::{self, Stack};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Dev { listen, seed } => {
            let mut config = cli.config()?;
            if let Some(listen) = listen {
                config.router.listen = *listen;
            }
            dev(&config, *seed).await
        }
        Command::Serve {
            service,
            listen,
            supergraph,
            identity_url,
            apps_url,
            licensing_url,
            allow_private_subgraphs,
        } => {
            let mut config = cli.config()?;
            for (url, configured) in [
                (identity_url, &mut config.identity.url),
                (apps_url, &mut config.apps.url),
                (licensing_url, &mut config.licensing.url),
            ] {
                if let Some(url) = url {
                    *configured = url.clone();
                }
            }
            config.allow_private_apps |= *allow_private_subgraphs;
            serve(config, *service, *listen, supergraph.as_deref()).await
        }
        Command::Config {
            action: ConfigAction::Print,
        } => {
            print!("{}", cli.config()?.print()?);
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Rotate,
        } => rotate_keys(&cli.config()?),
        Command::Secrets {
            action: SecretsAction::Rotate,
        } => rotate_secrets(&cli.config()?),
        Command::Secrets {
            action: SecretsAction::Reencrypt,
        } => reencrypt_secrets(&cli.config()?).await,
        Command::App {
            action: AppAction::New { name, lang, dir },
        } => {
            let project = crate::app_kit::new::create(name, *lang, dir)?;
            println!(
                "Created {} ({lang:?}). Next:\n  cd {}\n  nexus app dev",
                project.display(),
                project.display()
            );
            Ok(())
        }
        Command::App {
            action:
                AppAction::Dev {
                    dir,
                    listen,
                    platform,
                },
        } => {
            let target = match platform {
                Some(url) => crate::app_kit::dev::Target::Attached(url.clone()),
                None => crate::app_kit::dev::Target::InProcess(*listen),
            };
            crate::app_kit::dev::run(dir, target).await
        }
        Command::App {
            action:
                AppAction::Webhook {
                    action: WebhookAction::Trigger { event },
                    dir,
                },
        } => {
            if !crate::app_kit::webhook::trigger(dir, event).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::App {
            action:
                AppAction::Submit {
                    manifest,
                    url,
                    token,
                },
        } => submit_app(manifest, url, token).await,
        Command::Admin { action } => admin(&cli.config()?, action).await,
        Command::Audit {
            action: AuditAction::Verify,
        } => verify_audit(&cli.config()?).await,
        Command::Migrate => {
            let (db, _) = stack::connect(&cli.config()?.database_url()?).await?;
            Migrator::up(&db, None)
                .await
                .context("running migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Compose {
            supergraph_config,
            output,
        } => compose(supergraph_config, output).await,
        Command::ExportSchema { dir } => export_schema(dir),
    }
}

/// `nexus serve SERVICE`: the peers' URLs without a trailing slash, the one service's listen
/// address from `--listen`.
async fn serve(
    mut config: Config,
    service: Service,
    listen: Option<std::net::SocketAddr>,
    supergraph: Option<&Path>,
) -> anyhow::Result<()> {
    for configured in [
        &mut config.identity.url,
        &mut config.apps.url,
        &mut config.licensing.url,
    ] {
        *configured = configured.trim_end_matches('/').to_owned();
    }
    if let Some(listen) = listen {
        *match service {
            Service::Router => &mut config.router.listen,
            Service::Identity => &mut config.identity.listen,
            Service::Apps => &mut config.apps.listen,
            Service::Licensing => &mut config.licensing.listen,
        } = listen;
    }
    match service {
        Service::Router => serve_router(&config, supergraph).await,
        _ => serve_subgraph(&config, service).await,
    }
}

/// `nexus keys rotate`.
fn rotate_keys(config: &Config) -> anyhow::Result<()> {
    let path = config.keys_file();
    if path.exists() {
        let kid = nexus_kit::token::rotate(&path)?;
        println!("rotated: new signing key `{kid}` in {}", path.display());
    } else {
        KeyStore::open_or_create(&path, "")?;
        println!("created {}", path.display());
    }
    // The first time, the key for secrets at rest comes along (`nexus secrets rotate`
    // rotates it on its own schedule).
    let secrets = config.secrets_file();
    if !secrets.exists() {
        SecretBox::open_or_create(&secrets)?;
        println!("created {}", secrets.display());
    }
    Ok(())
}

/// `nexus secrets rotate`.
fn rotate_secrets(config: &Config) -> anyhow::Result<()> {
    let path = config.secrets_file();
    let kid = nexus_kit::secret_box::rotate(&path)?;
    println!(
        "new key `{kid}` in {}: restart the services, then run `nexus secrets reencrypt`",
        path.display()
    );
    Ok(())
}

/// `nexus secrets reencrypt`.
async fn reencrypt_secrets(config: &Config) -> anyhow::Result<()> {
    let (db, _) = stack::connect_and_migrate(&config.database_url()?).await?;
    let secrets = open_secrets(&config.secrets_file())?;
    let identity = nexus_identity::accounts::two_factor::reencrypt(&db, &secrets)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    let apps = nexus_apps::webhooks::endpoints::reencrypt(&db, &secrets).await?;
    println!(
        "re-encrypted {identity} two-factor secrets and {apps} webhook secrets with the newest key"
    );
    Ok(())
}

/// `nexus admin grant|revoke EMAIL`.
async fn admin(config: &Config, action: &AdminAction) -> anyhow::Result<()> {
    let (email, grant, force) = match action {
        AdminAction::Grant { email, force } => (email, true, *force),
        AdminAction::Revoke { email } => (email, false, false),
    };
    let (db, _) = stack::connect_and_migrate(&config.database_url()?).await?;
    let user = nexus_identity::users::set_platform_admin(&db, email, grant, force)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    println!(
        "{} is {} a platform administrator (from their next login)",
        user.email,
        if grant { "now" } else { "no longer" }
    );
    Ok(())
}

/// `nexus audit verify`: exits 1 at the first broken entry.
async fn verify_audit(config: &Config) -> anyhow::Result<()> {
    let (db, _) = stack::connect_and_migrate(&config.database_url()?).await?;
    let keys = open_keys(&config.keys_file(), &config.issuer())?;
    // What was appended a moment ago is chained first, so the check covers it too.
    nexus_kit::audit::seal(&db, &keys)
        .await
        .context("sealing the audit log")?;
    let verification = nexus_kit::audit::verify(&db, &keys)
        .await
        .context("reading the audit log")?;
    match verification.first_broken {
        None => {
            let entries = match verification.checked {
                1 => "1 entry".to_owned(),
                n => format!("{n} entries"),
            };
            let signed = verification
                .signed
                .map(|(kid, at)| format!(", signed by key {kid} at {}", at.to_rfc3339()))
                .unwrap_or_default();
            println!(
                "the audit log is intact: {entries}, newest hash {}{signed}",
                verification.head_hash
            );
            Ok(())
        }
        Some((seq, why)) => {
            println!("the audit log is broken at entry {seq}: {why}");
            std::process::exit(1);
        }
    }
}

async fn dev(config: &Config, with_seed: bool) -> anyhow::Result<()> {
    let mut config = config.clone();
    // `nexus dev` runs apps on this machine.
    config.allow_private_apps = true;
    config.development = true;
    let stack = Stack::start(config).await?;
    if with_seed {
        seed::load(&stack.db).await?;
    }
    let interrupted = shutdown_signal();
    println!("Nexus is running: {}", stack.graphql_url());
    interrupted.await;
    println!("shutting down");
    stack.shutdown().await
}

/// The key for secrets at rest a `serve`d service needs, with the command that creates it.
fn open_secrets(secrets_file: &Path) -> anyhow::Result<Arc<SecretBox>> {
    SecretBox::open(secrets_file).with_context(|| {
        format!(
            "no usable key for secrets at rest (create it with `nexus secrets rotate --secrets-file {}`)",
            secrets_file.display()
        )
    })
}

/// The signing keys a `serve`d service needs, with the command that creates them if missing.
fn open_keys(keys_file: &Path, issuer: &str) -> anyhow::Result<Arc<KeyStore>> {
    KeyStore::open(keys_file, issuer).with_context(|| {
        format!(
            "no usable signing keys (create them with `nexus keys rotate --keys-file {}`)",
            keys_file.display()
        )
    })
}

/// How long `nexus serve router` waits for the registry at start.
const REGISTRY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

async fn serve_router(config: &Config, supergraph: Option<&Path>) -> anyhow::Result<()> {
    let listen = config.router.listen;
    // A taken port is reported at once, not after waiting for the registry.
    nexus_router::resolve_listen(listen)?;
    let issuer = config.issuer();
    let keys_file = config.keys_file();
    let keys = open_keys(&keys_file, &issuer)?;
    // A fixed file, or the registry's head followed from here on.
    let source = match supergraph {
        Some(path) => SupergraphSource::Fixed(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read supergraph {}", path.display()))?,
        ),
        None => SupergraphSource::Registry {
            feed: nexus_router::registry_follower::RegistryFeed::new(
                format!(
                    "{}{}",
                    config.apps.url,
                    nexus_protocol::internal::supergraph::PATH
                ),
                keys,
            )?,
            patience: REGISTRY_PATIENCE,
        },
    };
    let router = nexus_router::start(stack::router_options(config)?, source).await?;
    if supergraph.is_none() {
        println!("router following the registry at {}", config.apps.url);
    }
    let interrupted = shutdown_signal();
    println!("router listening: {}", router.graphql_url());
    interrupted.await;
    router.shutdown().await
}

async fn serve_subgraph(config: &Config, service: Service) -> anyhow::Result<()> {
    let (name, addr) = match service {
        Service::Router => anyhow::bail!("the router is not a subgraph"),
        Service::Identity => (nexus_identity::NAME, config.identity.listen),
        Service::Apps => (nexus_apps::NAME, config.apps.listen),
        Service::Licensing => (nexus_licensing::NAME, config.licensing.listen),
    };
    let keys = open_keys(&config.keys_file(), &config.issuer())?;
    let core = core_subgraphs::find(name).ok_or_else(|| anyhow!("unknown subgraph {name}"))?;
    let (db, _) = stack::connect(&config.database_url()?).await?;
    let listener = nexus_kit::server::bind(addr).await?;
    let registry = core_subgraphs::registry(
        core_subgraphs::served_sdl(config),
        config.allow_private_apps,
    );
    let services = Services::from_config(
        config,
        db.clone(),
        keys.clone(),
        open_secrets(&config.secrets_file())?,
        registry.clone(),
    )?;
    let (jobs, webhooks) =
        spawn_background_work(config, service, &db, keys, &services, &registry).await?;
    let interrupted = shutdown_signal();
    println!("{name} subgraph listening: http://{addr}/graphql");
    let shutdown = async move {
        interrupted.await;
        // Routers long-polling the supergraph feed are answered now, not after their wait.
        registry.close();
    };
    nexus_kit::server::serve(listener, (core.http_router)(&services), shutdown).await?;
    stop_background_work(jobs, webhooks).await;
    Ok(())
}

/// The periodic jobs and the webhook worker that run beside `service`'s subgraph.
async fn spawn_background_work(
    config: &Config,
    service: Service,
    db: &sea_orm::DatabaseConnection,
    keys: Arc<KeyStore>,
    services: &Services,
    registry: &Arc<nexus_registry::Registry>,
) -> anyhow::Result<(
    Vec<tokio::task::JoinHandle<()>>,
    Option<nexus_apps::webhooks::Worker>,
)> {
    let mut webhooks = None;
    let mut jobs = Vec::new();
    // Identity runs with every platform: its process seals the audit log every service appends to.
    if service == Service::Identity {
        jobs.push(nexus_identity::accounts::retention::spawn(
            db.clone(),
            config.retention(),
        ));
        jobs.push(nexus_kit::audit::spawn_sealer(
            db.clone(),
            keys.clone(),
            nexus_kit::audit::SEAL_INTERVAL,
        ));
    }
    if service == Service::Licensing {
        jobs.push(nexus_licensing::expiry::spawn(
            db.clone(),
            nexus_licensing::expiry::INTERVAL,
        ));
    }
    if service == Service::Apps {
        if config.webhooks.deliver {
            let worker_db = stack::worker_connection(db, &config.database_url()?).await?;
            webhooks = Some(nexus_apps::webhooks::spawn(
                worker_db,
                keys.clone(),
                services.secrets.clone(),
                config.webhook_settings(),
            )?);
        }
        jobs.push(nexus_apps::oauth::retention::spawn(
            db.clone(),
            config.retention(),
        ));
        // The registry's feed needs a head: the first start records the core-only version.
        nexus_apps::startup(db, registry).await?;
        jobs.extend(nexus_apps::spawn_jobs(
            db.clone(),
            registry.clone(),
            nexus_apps::licensing_client(services.licensing_url.clone(), keys),
            config.health_interval(),
            config.license_sync_interval(),
        ));
    }
    Ok((jobs, webhooks))
}

/// Stops the periodic jobs, then lets the webhook worker finish.
async fn stop_background_work(
    jobs: Vec<tokio::task::JoinHandle<()>>,
    webhooks: Option<nexus_apps::webhooks::Worker>,
) {
    for job in jobs {
        job.abort();
        let _ = job.await;
    }
    if let Some(webhooks) = webhooks {
        webhooks.stop().await;
    }
}

async fn compose(config_path: &Path, output: &Path) -> anyhow::Result<()> {
    let config = SupergraphConfig::load(config_path)?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    let subgraphs = config.resolve(base).await?;
    let supergraph = nexus_registry::compose(&subgraphs)?;
    if output == Path::new("-") {
        print!("{supergraph}");
    } else {
        std::fs::write(output, &supergraph)
            .with_context(|| format!("cannot write {}", output.display()))?;
        eprintln!("wrote {} ({} subgraphs)", output.display(), subgraphs.len());
    }
    Ok(())
}

fn export_schema(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for core in &CORE_SUBGRAPHS {
        let path = dir.join(format!("{}.graphql", core.name));
        std::fs::write(&path, (core.sdl)())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let path = dir.join("manifest.schema.json");
    std::fs::write(&path, manifest_schema())
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Ctrl-C (SIGINT), listened for from the moment this is called: call it before saying a
/// command is ready, so that a signal sent the moment it says so is not missed (its default
/// action would end the process without shutting down).
fn shutdown_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut interrupt) = signal(SignalKind::interrupt()) {
            return Box::pin(async move {
                interrupt.recv().await;
            });
        }
    }
    Box::pin(async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handler available: run until killed.
            std::future::pending::<()>().await;
        }
    })
}

/// The app manifest's JSON Schema, as committed at `schema/manifest.schema.json`.
pub fn manifest_schema() -> String {
    let schema = nexus_registry::manifest::json_schema();
    format!(
        "{}\n",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    )
}

const SUBMIT: &str = "mutation($m: JSON!) { submitAppVersion(manifest: $m) { \
    appVersion { id version status app { namespace } } \
    errors { code message path subgraph type field } } }";

async fn submit_app(manifest: &Path, url: &str, token: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", manifest.display()))?;
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": SUBMIT, "variables": { "m": document } }))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if let Some(error) = body["errors"].get(0) {
        anyhow::bail!(
            "{} ({})",
            error["message"].as_str().unwrap_or("the submission failed"),
            error["extensions"]["code"].as_str().unwrap_or("ERROR")
        );
    }
    let payload = &body["data"]["submitAppVersion"];
    let version = &payload["appVersion"];
    if !version.is_null() {
        println!(
            "{} {}: {} (version id {})",
            version["app"]["namespace"].as_str().unwrap_or("?"),
            version["version"].as_str().unwrap_or("?"),
            version["status"].as_str().unwrap_or("?"),
            version["id"].as_str().unwrap_or("?"),
        );
    }
    let errors = payload["errors"].as_array().cloned().unwrap_or_default();
    for e in &errors {
        let at = [e["path"].as_str(), e["type"].as_str(), e["field"].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "  [{}] {}{}",
            e["code"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or(""),
            if at.is_empty() {
                String::new()
            } else {
                format!("  ({at})")
            }
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("the app version was rejected: {} problem(s)", errors.len())
    }
}
