//! Load benchmark: the same queries, side by side in one run, against the router and against the
//! subgraph directly, so the result is a ratio that does not depend on the machine.
//!
//! Every request goes to loopback; each scenario is bounded by a request count and a time limit.

mod apps;
mod store;
mod webhooks;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use nexus::stack::Stack;
use nexus_kit::token::{TokenType, new_claims};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Nexus load benchmark (loopback only)")]
struct Args {
    /// Organizations in the data set (each with 3 members and 2 installed, licensed apps).
    #[arg(long, default_value_t = 50)]
    organizations: usize,
    /// Concurrent clients per scenario.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Wall-clock limit per scenario and round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Request limit per scenario and round.
    #[arg(long, default_value_t = 20_000)]
    max_requests: usize,
    /// Rounds; scenarios alternate within each round so drift hits them alike.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Database: default a temporary SQLite file.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// What to measure: nested queries through the router, the license-validation hot path, the
    /// public port against the router pipeline behind it, the router with and without the
    /// operation limits and rate limits, webhook deliveries, a mutation that records an event
    /// with and without the outbox write, or one that is audited with and without the audit log.
    #[arg(long, value_enum, default_value_t = Suite::Queries)]
    suite: Suite,
    /// Redis for the `limits` suite's shared rate-limit store (without it, that scenario is
    /// left out).
    #[arg(long, env = "NEXUS_BENCH_REDIS")]
    redis_url: Option<String>,
    /// A PostgreSQL server for the `webhooks` suite (`postgres://USER:PASSWORD@HOST:PORT`; it
    /// creates a database per scenario); without it, SQLite only.
    #[arg(long, env = "NEXUS_BENCH_POSTGRES")]
    postgres_url: Option<String>,
    /// Events per scenario of the `webhooks` suite.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Apps (each its own endpoint) the `webhooks` suite's events are spread over.
    #[arg(long, default_value_t = 8)]
    apps: usize,
    /// Apps in the `store` suite's store.
    #[arg(long, default_value_t = 10_000)]
    store_apps: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Suite {
    Queries,
    Licenses,
    Port,
    Limits,
    Webhooks,
    Outbox,
    Audit,
    /// An app's fields through the app plane, against the app asked directly.
    Apps,
    /// Searching a store of `--store-apps` apps against its plain listing.
    Store,
}

const IDENTITY_ONLY: &str = "{ organizations(first: 50) { edges { node { name members(first: 10) { edges { node { role user { email } } } } } } } }";
const CROSS_SUBGRAPH: &str = "{ organizations(first: 50) { edges { node { name members(first: 10) { edges { node { role user { email } } } } installations(first: 10) { edges { node { status app { name } license { status } } } } } } } }";

struct Scenario {
    name: &'static str,
    url: String,
    query: String,
    token: String,
    /// Per client, what `{client}` in the query stands for (client `i` takes entry `i` modulo
    /// their number): each client works on its own rows.
    clients: Vec<String>,
}

impl Scenario {
    /// The query as client `number` sends it: `{client}` filled in with its own value.
    fn query_for(&self, number: usize) -> String {
        match self.clients.len() {
            0 => self.query.clone(),
            n => self.query.replace("{client}", &self.clients[number % n]),
        }
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// Throughput of each round on its own: a ratio taken round by round, against the baseline
    /// measured moments before, is less exposed to the machine's drift than the totals are.
    per_round: Vec<f64>,
}

impl Tally {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

async fn run_scenario(scenario: &Scenario, args: &Args, tally: &mut Tally) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    // One request first, checked, so a broken scenario fails loudly instead of measuring errors.
    let body: Value = client
        .post(&scenario.url)
        .bearer_auth(&scenario.token)
        .json(&json!({ "query": scenario.query_for(0).replace("{n}", "check") }))
        .send()
        .await?
        .json()
        .await?;
    if body.get("errors").is_some() || body["data"].is_null() {
        bail!("{}: the query failed: {body}", scenario.name);
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let per_client = args.max_requests / args.concurrency.max(1);
    let started = Instant::now();
    let mut clients = Vec::new();
    for number in 0..args.concurrency {
        let client = client.clone();
        let url = scenario.url.clone();
        let query = scenario.query_for(number);
        let token = scenario.token.clone();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while latencies.len() < per_client && Instant::now() < deadline {
                // `{n}` makes each request's mutation a change (the outbox suite).
                let query = query.replace("{n}", &format!("{number}-{}", latencies.len()));
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "query": query }))
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!("HTTP {}", response.status());
                }
                let body = response.bytes().await?;
                if body.windows(9).any(|w| w == b"\"errors\":") {
                    bail!("{}", String::from_utf8_lossy(&body));
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut answered = 0;
    for client in clients {
        let latencies = client.await??;
        answered += latencies.len();
        tally.latencies.extend(latencies);
    }
    let elapsed = started.elapsed();
    tally.elapsed += elapsed;
    tally
        .per_round
        .push(answered as f64 / elapsed.as_secs_f64().max(1e-9));
    Ok(())
}

fn query_scenarios(stack: &Stack, token: &str) -> anyhow::Result<Vec<Scenario>> {
    let identity = stack
        .subgraph_url("identity")
        .context("identity subgraph")?;
    Ok(vec![
        Scenario {
            name: "identity subgraph, direct",
            url: identity,
            query: IDENTITY_ONLY.to_owned(),
            token: token.to_owned(),
            clients: Vec::new(),
        },
        Scenario {
            name: "identity query via router",
            url: stack.graphql_url(),
            query: IDENTITY_ONLY.to_owned(),
            token: token.to_owned(),
            clients: Vec::new(),
        },
        Scenario {
            name: "3-subgraph query via router",
            url: stack.graphql_url(),
            query: CROSS_SUBGRAPH.to_owned(),
            token: token.to_owned(),
            clients: Vec::new(),
        },
    ])
}

/// The public port (the front door) against the router pipeline it forwards to, on a light query
/// through one subgraph and on one the router answers alone: what the port itself costs; and the
/// pipeline against apollo-router alone on the same supergraph: what Nexus's plugins cost.
fn port_scenarios(stack: &Stack, token: &str, plain: SocketAddr) -> Vec<Scenario> {
    let pipeline = stack.router.pipeline_url();
    let public = stack.graphql_url();
    let plain = format!("http://{plain}/graphql");
    let me = "{ me { email name } }";
    let typename = "{ __typename }";
    [
        ("`{ me { email name } }`, router pipeline", &pipeline, me),
        ("`{ me { email name } }`, public port", &public, me),
        ("`{ __typename }`, router pipeline", &pipeline, typename),
        ("`{ __typename }`, public port", &public, typename),
        (
            "`{ me { email name } }`, apollo-router without Nexus plugins",
            &plain,
            me,
        ),
        (
            "`{ me { email name } }`, router pipeline with Nexus plugins",
            &pipeline,
            me,
        ),
    ]
    .into_iter()
    .map(|(name, url, query)| Scenario {
        name,
        url: url.clone(),
        query: query.to_owned(),
        token: token.to_owned(),
        clients: Vec::new(),
    })
    .collect()
}

/// A router.yaml overlay whose budgets a benchmark never spends: every request is still measured
/// and charged, none refused.
const UNLIMITED_BUDGETS: &str = "plugins:
  nexus.rate_limit:
    user: { capacity: 1000000000000, per_seconds: 60 }
    api_key: { capacity: 1000000000000, per_seconds: 60 }
    installation: { capacity: 1000000000000, per_seconds: 60 }
    anonymous: { capacity: 1000000000000, per_seconds: 60 }
";

/// The public port (the path every client takes) on the same platform three times over (same database, same keys): without
/// `nexus.limits` and `nexus.rate_limit`, with both on the in-memory store, and with both on
/// Redis. Budgets are far above what the run spends: every request is measured and charged,
/// none is refused.
async fn limits_scenarios(
    args: &Args,
    base: &nexus::config::Config,
    issuer: &str,
    token: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(Vec<Scenario>, Vec<Stack>)> {
    let on = UNLIMITED_BUDGETS.to_owned();
    let off =
        "plugins:\n  nexus.limits:\n    enabled: false\n  nexus.rate_limit:\n    enabled: false\n"
            .to_owned();
    let mut variants = vec![
        (
            "`{ me { email name } }`, without limits and rate limits",
            off,
            None,
        ),
        (
            "`{ me { email name } }`, with both, in-memory store",
            on.clone(),
            None,
        ),
    ];
    match &args.redis_url {
        Some(redis) => variants.push((
            "`{ me { email name } }`, with both, Redis store",
            on,
            Some(redis.clone()),
        )),
        None => eprintln!("no --redis-url: the Redis scenario is left out"),
    }
    let mut scenarios = Vec::new();
    let mut stacks = Vec::new();
    for (i, (name, overlay, redis)) in variants.into_iter().enumerate() {
        let path = dir.join(format!("router-{i}.yaml"));
        std::fs::write(&path, overlay)?;
        let mut config = base.clone();
        config.issuer = Some(issuer.to_owned());
        config.router.config_file = Some(path);
        config.redis_url = redis;
        config.redis_key_prefix = format!("bench-{}", uuid::Uuid::new_v4());
        let stack = Stack::start(config.clone()).await?;
        scenarios.push(Scenario {
            name,
            url: stack.graphql_url(),
            query: "{ me { email name } }".to_owned(),
            token: token.to_owned(),
            clients: Vec::new(),
        });
        stacks.push(stack);
    }
    Ok((scenarios, stacks))
}

/// `updateOrganization` renaming an organization (a change every time, so `organization.updated`
/// every time) by its owner, through the public port, each client its own organization (one
/// organization's renames take turns on its row): the same mutation with the outbox off and on
/// (`nexus_kit::outbox::set_recording`, switched before each scenario runs). The webhook worker
/// is off in both: this is the write's cost, not delivery's.
async fn outbox_scenarios(
    stack: &Stack,
    owner: uuid::Uuid,
    clients: usize,
) -> anyhow::Result<Vec<Scenario>> {
    let organizations = own_organizations(stack, owner, clients, "renamed-often").await?;
    let token = access_token(stack, owner, false)?;
    let rename =
        "mutation { updateOrganization(id: \"{client}\", input: { name: \"Bench {n}\" }) { id } }";
    Ok([
        "`updateOrganization`, outbox off",
        "`updateOrganization`, outbox on",
    ]
    .into_iter()
    .map(|name| Scenario {
        name,
        url: stack.graphql_url(),
        query: rename.to_owned(),
        token: token.clone(),
        clients: organizations.clone(),
    })
    .collect())
}

/// One organization per client, owned by `owner` (slugs `{prefix}-0`, `{prefix}-1`, …): each
/// client works on its own rows.
async fn own_organizations(
    stack: &Stack,
    owner: uuid::Uuid,
    clients: usize,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let mut organizations = Vec::new();
    for i in 0..clients {
        let organization = nexus_identity::organizations::create_owned_organization(
            &stack.db,
            owner,
            "Bench",
            &format!("{prefix}-{i}"),
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        organizations.push(organization.id.to_string());
    }
    Ok(organizations)
}

/// `createApiKey` (audited: `api_key.created`), each client in its own organization, with the
/// audit log's append switched off and on. Every append takes the chain's head row in turn, so
/// this measures that queue, not only one more INSERT.
async fn audit_scenarios(
    stack: &Stack,
    owner: uuid::Uuid,
    clients: usize,
) -> anyhow::Result<Vec<Scenario>> {
    let organizations = own_organizations(stack, owner, clients, "keys-often").await?;
    let token = access_token(stack, owner, false)?;
    let create = "mutation { createApiKey(input: { organizationId: \"{client}\", name: \"bench {n}\" }) { apiKey { id } } }";
    Ok(["`createApiKey`, audit off", "`createApiKey`, audit on"]
        .into_iter()
        .map(|name| Scenario {
            name,
            url: stack.graphql_url(),
            query: create.to_owned(),
            token: token.clone(),
            clients: organizations.clone(),
        })
        .collect())
}

/// An hour's access token for `user`, a platform administrator or not.
fn access_token(stack: &Stack, user: uuid::Uuid, platform_admin: bool) -> anyhow::Result<String> {
    let mut claims = new_claims(
        stack.keys.issuer(),
        user.to_string(),
        TokenType::Access,
        Duration::from_secs(3600),
    );
    claims.adm = platform_admin;
    stack.keys.sign(&claims)
}

/// `validateLicense`, the call apps make most: at the licensing subgraph directly, through the
/// router by key, and by key and fingerprint (which also records the activation as seen).
async fn license_scenarios(
    stack: &Stack,
    token: &str,
    app: uuid::Uuid,
) -> anyhow::Result<Vec<Scenario>> {
    let failed = |e: async_graphql::Error| anyhow::anyhow!("{}", e.message);
    let issued = nexus_licensing::service::create_license(
        &stack.db,
        nexus_licensing::service::NewLicense {
            app_id: app,
            app_namespace: Some("analytics".into()),
            developer_id: None,
            organization_id: uuid::Uuid::now_v7(),
            kind: nexus_licensing::entity::license::LicenseKind::Purchase,
            max_activations: 10,
            expires_at: None,
            entitlements: vec!["pro".into()],
            issued_by: None,
        },
    )
    .await
    .map_err(failed)?;
    nexus_licensing::activations::activate(&stack.db, &issued.key, "bench-1", None, |_| true)
        .await
        .map_err(failed)?;
    let by_key = format!(
        "mutation {{ validateLicense(key: \"{}\") {{ valid code }} }}",
        issued.key
    );
    let with_fingerprint = format!(
        "mutation {{ validateLicense(key: \"{}\", fingerprint: \"bench-1\") {{ valid code }} }}",
        issued.key
    );
    Ok(vec![
        Scenario {
            name: "validate by key, licensing subgraph direct",
            url: stack
                .subgraph_url("licensing")
                .context("licensing subgraph")?,
            query: by_key.clone(),
            token: token.to_owned(),
            clients: Vec::new(),
        },
        Scenario {
            name: "validate by key via router",
            url: stack.graphql_url(),
            query: by_key,
            token: token.to_owned(),
            clients: Vec::new(),
        },
        Scenario {
            name: "validate by key + fingerprint via router (writes lastSeenAt)",
            url: stack.graphql_url(),
            query: with_fingerprint,
            token: token.to_owned(),
            clients: Vec::new(),
        },
    ])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.suite == Suite::Webhooks {
        return webhooks::run(args.postgres_url.as_deref(), args.events, args.apps).await;
    }
    let dir = tempfile::tempdir()?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    // The same composition root as `nexus dev`, on free ports, with apps on loopback; no budget
    // the benchmark could run out of.
    let budgets = dir.path().join("router.yaml");
    std::fs::write(&budgets, UNLIMITED_BUDGETS)?;
    let config = nexus::config::Config {
        database_url: Some(database_url),
        keys_file: Some(dir.path().join("signing-keys.json")),
        allow_private_apps: true,
        router: nexus::config::RouterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            config_file: Some(budgets),
            ..nexus::config::RouterConfig::default()
        },
        webhooks: nexus::config::WebhooksConfig {
            // The outbox suite measures recording events, not delivering them.
            deliver: !matches!(args.suite, Suite::Outbox | Suite::Audit),
            ..nexus::config::WebhooksConfig::default()
        },
        ..nexus::config::Config::default()
    };
    let stack = Stack::start(config.clone()).await?;
    // A platform admin's token: the query reads every organization.
    let admin =
        nexus_identity::users::create_user(&stack.db, "admin@bench.test", "Admin", None, None)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let token = access_token(&stack, admin.id, true)?;
    let apps = nexus::seed::published_apps(&stack.db, &["analytics", "crm"]).await?;
    nexus::seed::populate(&stack.db, 0, args.organizations, &apps).await?;

    // apollo-router without Nexus's plugins, kept running for the port suite.
    let mut plain = None;
    let mut variants = Vec::new();
    let scenarios = match args.suite {
        Suite::Queries => query_scenarios(&stack, &token)?,
        Suite::Licenses => license_scenarios(&stack, &token, apps[0]).await?,
        Suite::Port => {
            let head = nexus_apps::registry::live_set::head(&stack.db)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?
                .context("a supergraph")?;
            let (server, addr) = nexus_router::start_plain(head.sdl).await?;
            plain = Some(server);
            port_scenarios(&stack, &token, addr)
        }
        Suite::Limits => {
            let (scenarios, stacks) =
                limits_scenarios(&args, &config, stack.keys.issuer(), &token, dir.path()).await?;
            variants = stacks;
            scenarios
        }
        Suite::Outbox => outbox_scenarios(&stack, admin.id, args.concurrency).await?,
        Suite::Audit => audit_scenarios(&stack, admin.id, args.concurrency).await?,
        Suite::Apps => apps::scenarios(&stack, &token).await?,
        Suite::Store => store::scenarios(&stack, &token, args.store_apps).await?,
        Suite::Webhooks => unreachable!("run above"),
    };
    let mut tallies: Vec<Tally> = scenarios.iter().map(|_| Tally::default()).collect();
    for round in 0..args.rounds {
        // Every other round in reverse, so no scenario always runs first (or right after another).
        let mut order: Vec<usize> = (0..scenarios.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            if args.suite == Suite::Outbox {
                nexus_kit::outbox::set_recording(i == 1);
            }
            if args.suite == Suite::Audit {
                nexus_kit::audit::set_recording(i == 1);
            }
            run_scenario(&scenarios[i], &args, &mut tallies[i]).await?;
        }
    }
    // Each scenario against the first; the port suite pairs each public port with its pipeline.
    let baseline_of = |i: usize| match args.suite {
        Suite::Port => i - i % 2,
        _ => 0,
    };
    let baselines: Vec<f64> = (0..tallies.len())
        .map(|i| tallies[baseline_of(i)].throughput())
        .collect();
    // Round by round: this round's throughput against the baseline's in the same round.
    let round_ratios: Vec<Vec<f64>> = (0..tallies.len())
        .map(|i| {
            let mut ratios: Vec<f64> = tallies[i]
                .per_round
                .iter()
                .zip(&tallies[baseline_of(i)].per_round)
                .map(|(tp, base)| tp / base.max(1e-9))
                .collect();
            ratios.sort_by(f64::total_cmp);
            ratios
        })
        .collect();
    println!(
        "{} organizations, concurrency {}, {} rounds × {} s per scenario",
        args.organizations, args.concurrency, args.rounds, args.seconds
    );
    let versus = match args.suite {
        Suite::Port => "throughput vs pipeline",
        Suite::Limits | Suite::Outbox | Suite::Audit => "throughput vs without",
        Suite::Store => "throughput vs plain listing",
        _ => "throughput vs direct",
    };
    println!(
        "| scenario | requests | req/s | p50 ms | p99 ms | {versus} | per round: median (min–max) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (((scenario, tally), baseline), ratios) in scenarios
        .iter()
        .zip(tallies.iter_mut())
        .zip(baselines)
        .zip(&round_ratios)
    {
        let throughput = tally.throughput();
        let (p50, p99) = (tally.percentile(0.5), tally.percentile(0.99));
        let median = ratios.get(ratios.len() / 2).copied().unwrap_or_default();
        let (low, high) = (
            ratios.first().copied().unwrap_or_default(),
            ratios.last().copied().unwrap_or_default(),
        );
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {median:.2} ({low:.2}–{high:.2}) |",
            scenario.name,
            tally.latencies.len(),
            throughput,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            throughput / baseline
        );
    }
    if let Some(mut server) = plain {
        server.shutdown().await.ok();
    }
    for variant in variants {
        variant.shutdown().await?;
    }
    stack.shutdown().await
}
