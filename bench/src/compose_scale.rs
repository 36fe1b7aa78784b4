//! What composition and a new head cost as the number of apps grows (#23).
//!
//! For each count of generated apps (`nexus_registry::sample_apps`, each extending `User` and
//! `Organization` by `id` with types of its own), side by side in one run:
//! - `full`: `nexus_registry::compose` of the core and every app (the reference), and where its
//!   time goes (parse and expand, merge, the satisfiability check of the whole);
//! - `incremental, cold`: a new `Composer` composing them all (each app checked with the core),
//!   into the supergraph Nexus serves (the core and one app plane), checked to mean what the
//!   full composition means;
//! - `approval`: a `Composer` that knows every other app composing one new app in;
//! - `again`: the same set once more (only the assembly).
//!
//! Then, with `--router-apps N`: a whole Nexus stack in this process is handed the supergraph of
//! N apps, and the time until its router serves it, the process's resident memory, and the core
//! query throughput with and without those apps.
//!
//! Run: `cargo run --release -p nexus-bench --bin compose-scale -- --apps 10,100,500,1000,2000
//! --full-up-to 200 --router-apps 1000`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use apollo_federation::composition::{
    self, CompositionOptions, merge_subgraphs, pre_merge_validations,
    upgrade_subgraphs_if_necessary, validate_satisfiability,
};
use apollo_federation::subgraph::typestate::Subgraph;
use clap::Parser;
use nexus_registry::{Composer, SubgraphSdl, app_plane, compose, sample_apps};

#[derive(Parser)]
struct Args {
    /// Counts of apps to compose.
    #[arg(long, value_delimiter = ',', default_value = "10,100,500,1000,2000")]
    apps: Vec<usize>,
    /// The full composition only up to this many apps (it grows much faster than linearly).
    #[arg(long, default_value_t = 200)]
    full_up_to: usize,
    /// Varied apps (federation 1 and 2, enums, interfaces, …) instead of one plain shape.
    #[arg(long)]
    varied: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Hand a running stack's router the supergraph of this many apps (0: skip).
    #[arg(long, default_value_t = 0)]
    router_apps: usize,
}

fn core() -> Vec<SubgraphSdl> {
    [
        ("identity", include_str!("../../schema/identity.graphql")),
        ("apps", include_str!("../../schema/apps.graphql")),
        ("licensing", include_str!("../../schema/licensing.graphql")),
    ]
    .into_iter()
    .map(|(name, sdl)| SubgraphSdl {
        name: name.into(),
        routing_url: format!("http://127.0.0.1:9/{name}"),
        sdl: sdl.into(),
    })
    .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The full composition's stages, timed: (parse and expand, merge, satisfiability).
fn stages(subgraphs: &[SubgraphSdl]) -> anyhow::Result<(Duration, Duration, Duration)> {
    let start = Instant::now();
    let mut parsed = Vec::new();
    for s in subgraphs {
        parsed.push(
            Subgraph::parse(&s.name, &s.routing_url, &s.sdl).map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    parsed.sort_by(|a, b| a.name.cmp(&b.name));
    let expanded = composition::expand_subgraphs(parsed).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let validated =
        upgrade_subgraphs_if_necessary(expanded).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let prepared = start.elapsed();
    let start = Instant::now();
    pre_merge_validations(&validated).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let merged = merge_subgraphs(validated, &CompositionOptions::default())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let merging = start.elapsed();
    let start = Instant::now();
    validate_satisfiability(merged, &CompositionOptions::default())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok((prepared, merging, start.elapsed()))
}

fn composition(args: &Args) -> anyhow::Result<()> {
    let core = core();
    println!(
        "| apps | full | parse+expand | merge | satisfiability | incremental, cold | approval (one new app) | again (merge only) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for &n in &args.apps {
        let apps = sample_apps::apps(n, args.seed, !args.varied);
        let mut all = core.clone();
        all.extend(apps.iter().cloned());
        let (full, stage) = if n <= args.full_up_to {
            let start = Instant::now();
            let reference = compose(&all)?;
            let full = start.elapsed();
            let stage = stages(&all)?;
            (Some((full, reference)), Some(stage))
        } else {
            (None, None)
        };
        let composer = Composer::new();
        let start = Instant::now();
        let cold_sdl = composer.compose(&core, &apps)?;
        let cold = start.elapsed();
        if let Some((_, reference)) = &full {
            anyhow::ensure!(
                app_plane::meaning(reference).map_err(anyhow::Error::msg)?
                    == app_plane::meaning(&cold_sdl).map_err(anyhow::Error::msg)?,
                "{n} apps: the two supergraphs mean different things"
            );
        }
        // Approvals: one new app each time, the others known.
        let mut approvals = Vec::new();
        let mut live = apps.clone();
        for extra in 0..3 {
            live.push(sample_apps::app(n + extra, args.seed, !args.varied));
            let start = Instant::now();
            composer.compose(&core, &live)?;
            approvals.push(start.elapsed());
        }
        approvals.sort();
        let start = Instant::now();
        composer.compose(&core, &live)?;
        let again = start.elapsed();
        let cell = |d: Option<Duration>| d.map_or("—".to_owned(), ms);
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {} |",
            cell(full.as_ref().map(|(d, _)| *d)),
            cell(stage.map(|s| s.0)),
            cell(stage.map(|s| s.1)),
            cell(stage.map(|s| s.2)),
            ms(cold),
            ms(approvals[1]),
            ms(again),
        );
    }
    Ok(())
}

/// The process's resident memory, in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Requests per second of `{ __typename }`-free core reads (`{ apps(first: 5) { edges { node
/// { name } } } }`, public) over `total` requests, `concurrency` at a time.
async fn throughput(url: &str, total: usize, concurrency: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let body = serde_json::json!({ "query": "{ apps(first: 5) { edges { node { name } } } }" });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, body, url) = (client.clone(), body.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            for _ in (worker..total).step_by(concurrency) {
                let answer: serde_json::Value =
                    client.post(&url).json(&body).send().await?.json().await?;
                anyhow::ensure!(answer["data"]["apps"].is_object(), "{answer}");
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Until the router answers with the supergraph that has app `namespace` (a field of it validates).
async fn served(url: &str, namespace: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let body =
        serde_json::json!({ "query": format!("{{ me {{ {namespace}Profile {{ visits }} }} }}") });
    loop {
        let answer: serde_json::Value = client.post(url).json(&body).send().await?.json().await?;
        if !answer.to_string().contains("GRAPHQL_VALIDATION_FAILED") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn router(args: &Args) -> anyhow::Result<()> {
    let n = args.router_apps;
    let dir = tempfile::tempdir()?;
    // No budget the run could spend: every request is measured, none refused.
    let budgets = dir.path().join("router.yaml");
    std::fs::write(
        &budgets,
        "plugins:\n  nexus.rate_limit:\n    anonymous: { capacity: 1000000000000, per_seconds: 60 }\n",
    )?;
    let config = nexus::config::Config {
        database_url: Some(format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        )),
        keys_file: Some(dir.path().join("signing-keys.json")),
        allow_private_apps: true,
        router: nexus::config::RouterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            config_file: Some(budgets),
            ..nexus::config::RouterConfig::default()
        },
        ..nexus::config::Config::default()
    };
    let stack = nexus::stack::Stack::start(config).await?;
    let url = stack.graphql_url();
    let core_rss = rss_mib();
    let core_rate = throughput(&url, 4000, 16).await?;
    // Plain apps: `User.app{i}Profile` says which supergraph is served.
    let apps = sample_apps::apps(n, args.seed, true);
    let start = Instant::now();
    let sdl = stack.registry.compose(&apps)?;
    let composed = start.elapsed();
    // Now one approval more, the others known: what an admin's approval costs.
    let mut live = apps.clone();
    live.push(sample_apps::app(n, args.seed, true));
    let start = Instant::now();
    let approved = stack.registry.compose(&live)?;
    let approval = start.elapsed();
    stack.registry.publish(sdl);
    served(&url, &format!("app{}", n - 1))
        .await
        .context("the router never served the apps")?;
    let start = Instant::now();
    stack.registry.publish(approved);
    served(&url, &format!("app{n}")).await?;
    let reload = start.elapsed();
    let apps_rss = rss_mib();
    let apps_rate = throughput(&url, 4000, 16).await?;
    println!("\nrouter with {n} apps (one process: stack, router and composer):");
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| composing {n} apps, cold | {} ms |", ms(composed));
    println!(
        "| approving app {} (the others known) | {} ms |",
        n + 1,
        ms(approval)
    );
    println!(
        "| new head published → served by the router | {} ms |",
        ms(reload)
    );
    println!("| approval to served | {} ms |", ms(approval + reload));
    println!(
        "| resident memory, core only → with {n} apps | {core_rss:.0} MiB → {apps_rss:.0} MiB |"
    );
    println!(
        "| core query (`apps(first: 5)`), req/s, core only → with {n} apps | {core_rate:.0} → {apps_rate:.0} (ratio {:.2}) |",
        apps_rate / core_rate
    );
    stack.shutdown().await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    composition(&args)?;
    if args.router_apps > 0 {
        router(&args).await?;
    }
    Ok(())
}
