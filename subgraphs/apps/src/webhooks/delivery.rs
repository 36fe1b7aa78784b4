//! Delivering: a worker claims due deliveries (leased, so a crashed worker's are taken over when
//! the lease runs out, and `FOR UPDATE SKIP LOCKED` keeps two workers off the same one), signs
//! each as Standard Webhooks (`v1` HMAC with the endpoint's secret — and its previous one for a
//! day after a rotation — and `v1a` Ed25519 with the platform key) and records every attempt.
//!
//! 2xx delivers; 410 Gone disables the endpoint; 429 and 503 are retried after their
//! `Retry-After`; anything else after the next step of the schedule, with ±10 % jitter, until it
//! runs out (`failed`). An endpoint failing for `disable_after` is disabled. At most
//! `per_endpoint` deliveries are claimed and in flight per app and worker: a slow endpoint waits
//! for itself only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use nexus_kit::secret_box::SecretBox;
use nexus_kit::token::KeyStore;
use nexus_protocol::outbound::{Outbound, OutboundError};
use nexus_protocol::webhook_signature;
use reqwest::Method;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveEnum, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryResult, QuerySelect, Statement,
};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::entity::{delivery, endpoint};
use super::envelope::{self, Recipient};
use super::recorder::{Outcome, Recorder};
use super::settings::Settings;
use super::subscriptions::Subscriptions;

/// Deliveries one worker has in flight at most.
pub const MAX_IN_FLIGHT: usize = 256;
/// How long an event's payload query may take at the router.
pub const PAYLOAD_QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is kept with the attempt.
pub const EXCERPT_BYTES: usize = 1024;

/// What a worker shares between its deliveries.
pub struct Deliverer {
    pub db: DatabaseConnection,
    /// For payload queries, to the router (ours: not under the apps' address policy).
    pub router: reqwest::Client,
    pub keys: Arc<KeyStore>,
    /// Opens the endpoints' signing secrets.
    pub secrets: Arc<SecretBox>,
    pub client: Outbound,
    pub settings: Settings,
    /// Per app: its deliveries this worker has claimed and not finished.
    busy: Mutex<HashMap<Uuid, usize>>,
    /// All deliveries in flight in this worker.
    pub total: Arc<Semaphore>,
    /// Rung when a delivery finishes: its app has room again.
    pub finished: tokio::sync::Notify,
    /// Per app, for a moment: where its live version sends events, and its endpoint's secrets.
    targets: moka::future::Cache<Uuid, Target>,
    /// Where finished attempts are written, in groups.
    recorder: Recorder,
}

/// Where and how an app's deliveries go, as of a moment ago.
#[derive(Clone)]
struct Target {
    subscriptions: Option<Subscriptions>,
    endpoint: endpoint::Model,
    /// The app, as deliveries name their recipient.
    recipient: Recipient,
}

/// How long a `Target` is reused: a rotated secret or a new version's endpoint applies within it.
const TARGET_TTL: Duration = Duration::from_secs(1);

impl Deliverer {
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<KeyStore>,
        secrets: Arc<SecretBox>,
        client: Outbound,
        settings: Settings,
    ) -> Deliverer {
        let recorder = Recorder::start(db.clone(), settings.clone());
        Deliverer {
            db,
            router: reqwest::Client::builder()
                .timeout(PAYLOAD_QUERY_TIMEOUT)
                .build()
                .unwrap_or_default(),
            keys,
            secrets,
            client,
            settings,
            busy: Mutex::new(HashMap::new()),
            total: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            finished: tokio::sync::Notify::new(),
            targets: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TARGET_TTL)
                .build(),
            recorder,
        }
    }

    fn busy_snapshot(&self) -> HashMap<Uuid, usize> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn mark_busy(&self, apps: impl Iterator<Item = Uuid>) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        for app in apps {
            *busy.entry(app).or_default() += 1;
        }
    }

    fn mark_done(&self, app: Uuid) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = busy.get_mut(&app) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(&app);
            }
        }
        drop(busy);
        self.finished.notify_one();
    }
}

/// Claims up to `limit` due deliveries of enabled endpoints for this worker, at most as many
/// per app as it has room for (`per_endpoint` in flight): one app's backlog never fills a claim,
/// so other apps' deliveries are never behind it.
pub async fn claim(deliverer: &Deliverer, limit: u64) -> Result<Vec<delivery::Model>, DbErr> {
    let now = Utc::now();
    // Whole microseconds, as PostgreSQL keeps it: the recorder matches the lease it was given.
    let lease = (now + chrono::Duration::from_std(deliverer.settings.lease).unwrap_or_default())
        .trunc_subsecs(6);
    let per_endpoint = deliverer.settings.per_endpoint;
    let busy = deliverer.busy_snapshot();
    let saturated: Vec<Uuid> = busy
        .iter()
        .filter(|(_, n)| **n >= per_endpoint)
        .map(|(app, _)| *app)
        .collect();
    let backend = deliverer.db.get_database_backend();
    let candidates = candidates(backend, now, &saturated, per_endpoint, limit);
    let rows = deliverer.db.query_all(candidates).await?;
    let picked = within_room(rows, per_endpoint, &busy)?;
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let due = lease_still_due(deliverer, picked, now, lease).await?;
    deliverer.mark_busy(due.iter().map(|d| d.app_id));
    let due = due
        .into_iter()
        .map(|mut claimed| {
            claimed.leased_until = Some(lease);
            claimed
        })
        .collect();
    Ok(due)
}

/// The query for the candidates: the oldest due deliveries, at most `per_endpoint` per app, of
/// apps not `saturated` and whose endpoint is enabled.
fn candidates(
    backend: DbBackend,
    now: DateTime<Utc>,
    saturated: &[Uuid],
    per_endpoint: usize,
    limit: u64,
) -> Statement {
    let mut values: Vec<sea_orm::Value> = vec![
        delivery::Status::Pending.to_value().into(),
        now.into(),
        now.into(),
    ];
    let mut excluded = String::new();
    for app in saturated {
        values.push((*app).into());
        excluded.push_str(if excluded.is_empty() { "" } else { ", " });
        excluded.push_str(&format!("${}", values.len()));
    }
    let excluded = match excluded.is_empty() {
        true => String::new(),
        false => format!("AND d.app_id NOT IN ({excluded})"),
    };
    values.push((per_endpoint as i64).into());
    let rank = values.len();
    values.push((limit as i64).into());
    let sql = format!(
        "SELECT id, app_id FROM (\
           SELECT d.id, d.app_id, d.next_attempt_at, ROW_NUMBER() OVER \
             (PARTITION BY d.app_id ORDER BY d.next_attempt_at, d.id) AS place \
           FROM webhook_deliveries d \
           WHERE d.status = $1 AND d.next_attempt_at <= $2 \
             AND (d.leased_until IS NULL OR d.leased_until < $3) {excluded} \
             AND d.app_id NOT IN (SELECT e.app_id FROM webhook_endpoints e WHERE e.disabled_at IS NOT NULL)\
         ) ranked WHERE place <= ${rank} ORDER BY next_attempt_at LIMIT ${}",
        rank + 1
    );
    let sql = match backend {
        DbBackend::Postgres => sql,
        // SQLite numbers `?NNN` the same way.
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The candidates this worker has room for: per app, `per_endpoint` less what it has in flight.
fn within_room(
    rows: Vec<QueryResult>,
    per_endpoint: usize,
    busy: &HashMap<Uuid, usize>,
) -> Result<Vec<Uuid>, DbErr> {
    let mut room: HashMap<Uuid, usize> = HashMap::new();
    let mut picked = Vec::new();
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        let app: Uuid = row.try_get("", "app_id")?;
        let left = room
            .entry(app)
            .or_insert_with(|| per_endpoint.saturating_sub(busy.get(&app).copied().unwrap_or(0)));
        if *left > 0 {
            *left -= 1;
            picked.push(id);
        }
    }
    Ok(picked)
}

/// Leases those of the `picked` deliveries still due and not taken by another worker; returns
/// them as they were read.
async fn lease_still_due(
    deliverer: &Deliverer,
    picked: Vec<Uuid>,
    now: DateTime<Utc>,
    lease: DateTime<Utc>,
) -> Result<Vec<delivery::Model>, DbErr> {
    // Locked and checked again: another worker may have taken some since.
    let txn = nexus_kit::db::begin_writing(&deliverer.db).await?;
    let due = delivery::Entity::find()
        .filter(delivery::Column::Id.is_in(picked))
        .filter(delivery::Column::Status.eq(delivery::Status::Pending))
        .filter(
            Condition::any()
                .add(delivery::Column::LeasedUntil.is_null())
                .add(delivery::Column::LeasedUntil.lt(now)),
        )
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if !due.is_empty() {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::LeasedUntil, Expr::value(lease))
            .filter(delivery::Column::Id.is_in(due.iter().map(|d| d.id)))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(due)
}

/// Delivers a claimed delivery (one attempt), then makes room for the app's next one.
pub async fn deliver(deliverer: Arc<Deliverer>, claimed: delivery::Model) {
    let app = claimed.app_id;
    if let Err(e) = attempt_once(&deliverer, claimed).await {
        tracing::error!(error = %e, "webhook delivery not recorded; it is retried after its lease");
    }
    deliverer.mark_done(app);
}

async fn target(deliverer: &Deliverer, app: Uuid) -> Result<Target, DbErr> {
    let db = &deliverer.db;
    deliverer
        .targets
        .try_get_with(app, async {
            let namespace = crate::entity::app::Entity::find_by_id(app)
                .one(db)
                .await?
                .map(|found| found.namespace)
                .unwrap_or_default();
            Ok(Target {
                subscriptions: super::subscriptions::live(db, [app]).await?.remove(&app),
                endpoint: super::endpoints::ensure(db, &deliverer.secrets, app).await?,
                recipient: Recipient {
                    app_id: app,
                    namespace,
                },
            })
        })
        .await
        .map_err(|e: Arc<DbErr>| DbErr::Custom(e.to_string()))
}

async fn attempt_once(deliverer: &Deliverer, mut claimed: delivery::Model) -> Result<(), DbErr> {
    let app = claimed.app_id;
    let Target {
        subscriptions,
        endpoint,
        recipient,
    } = target(deliverer, app).await?;
    let outcome = match subscriptions {
        None => Outcome::failed(
            "the app's live version has no webhook endpoint".into(),
            Duration::ZERO,
        ),
        Some(subscriptions) => match shaped(deliverer, &subscriptions, &mut claimed).await? {
            Err(error) => Outcome::failed(
                format!("the payload query could not run: {error}"),
                Duration::ZERO,
            ),
            Ok(()) => {
                send(
                    deliverer,
                    &endpoint,
                    &subscriptions.endpoint,
                    &claimed,
                    &recipient,
                )
                .await
            }
        },
    };
    let succeeded = outcome.succeeded();
    deliverer.recorder.record(claimed, outcome).await?;
    if !succeeded {
        // The next delivery sees the endpoint as it is now.
        deliverer.targets.invalidate(&app).await;
    }
    Ok(())
}

/// Gives the delivery the body its app's payload query makes of the event, once (kept for
/// retries), if the app subscribed with one.
async fn shaped(
    deliverer: &Deliverer,
    subscriptions: &Subscriptions,
    claimed: &mut delivery::Model,
) -> Result<Result<(), String>, DbErr> {
    let Some(Some(query)) = subscriptions.events.get(&claimed.event_type) else {
        return Ok(Ok(()));
    };
    if super::shaping::is_shaped(&claimed.body) {
        return Ok(Ok(()));
    }
    let body = match super::shaping::shape(
        &super::shaping::PayloadRouter {
            db: &deliverer.db,
            keys: &deliverer.keys,
            client: &deliverer.router,
            url: deliverer.settings.graphql_url.as_deref(),
        },
        claimed,
        query,
    )
    .await
    {
        Ok(body) => body,
        Err(error) => return Ok(Err(error.to_string())),
    };
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Body, Expr::value(body.clone()))
        .filter(delivery::Column::Id.eq(claimed.id))
        .exec(&deliverer.db)
        .await?;
    claimed.body = body;
    Ok(Ok(()))
}

async fn send(
    deliverer: &Deliverer,
    endpoint: &endpoint::Model,
    url: &str,
    claimed: &delivery::Model,
    recipient: &Recipient,
) -> Outcome {
    let started = Instant::now();
    let failed = |error: String| Outcome::failed(error, started.elapsed());
    let id = claimed.webhook_id();
    let timestamp = Utc::now().timestamp();
    let body = match envelope::seal(claimed, recipient) {
        Ok(body) => body,
        Err(e) => return failed(e),
    };
    let signature = match signatures(deliverer, endpoint, &id, timestamp, &body) {
        Ok(signature) => signature,
        Err(e) => return failed(format!("cannot sign: {e}")),
    };
    let request = match deliverer.client.request(Method::POST, url) {
        Ok(request) => request,
        Err(e) => return failed(e.to_string()),
    };
    let request = request
        .header("content-type", "application/json")
        .header("user-agent", "Nexus-Webhooks/1")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    match deliverer.client.send(request).await {
        Ok(reply) => Outcome {
            status: Some(reply.status.as_u16()),
            retry_after: reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            excerpt: Some(excerpt(&reply.body)),
            error: None,
            latency: started.elapsed(),
        },
        Err(OutboundError::TooLarge { .. }) => failed(format!(
            "the answer was larger than {} bytes",
            deliverer.client.policy().max_bytes
        )),
        Err(e) => failed(e.to_string()),
    }
}

/// The `webhook-signature` header: `v1` with the secret (and the previous one during a
/// rotation), then `v1a`.
fn signatures(
    deliverer: &Deliverer,
    endpoint: &endpoint::Model,
    id: &str,
    timestamp: i64,
    body: &str,
) -> anyhow::Result<String> {
    let (current, previous) = super::endpoints::signing_secrets(&deliverer.secrets, endpoint)?;
    let mut parts = vec![
        webhook_signature::hmac_signature(&current, id, timestamp, body)
            .map_err(anyhow::Error::msg)?,
    ];
    if let Some(previous) = previous {
        parts.push(
            webhook_signature::hmac_signature(&previous, id, timestamp, body)
                .map_err(anyhow::Error::msg)?,
        );
    }
    let content = webhook_signature::signed_content(id, timestamp, body);
    let (_kid, signature) = deliverer.keys.sign_bytes(content.as_bytes())?;
    parts.push(webhook_signature::ed25519_signature(&signature));
    Ok(parts.join(" "))
}

fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(EXCERPT_BYTES)];
    String::from_utf8_lossy(cut).into_owned()
}
