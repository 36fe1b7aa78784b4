//! Recording attempts in groups: every finished attempt is queued here, and one task writes all
//! that are waiting in one transaction (the attempts in one insert, the delivered ones in one
//! update). A commit is a disk flush; one per attempt capped a worker at the disk's flush rate.
//! Whoever queued an attempt waits for its group's commit, so a delivery stays in flight (and
//! leased) until what happened to it is on disk.
//!
//! An endpoint is changed by conditional statements, not from a model read earlier: several
//! deliveries (and workers) finish for one endpoint at once.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use nexus_kit::outbox::Event;

use super::entity::{attempt, delivery, endpoint};
use super::settings::Settings;

/// Attempts written in one transaction at most.
const GROUP: usize = 512;

/// How one attempt ended.
pub struct Outcome {
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub latency: Duration,
}

impl Outcome {
    /// An attempt that sent nothing (or got no answer).
    pub fn failed(error: String, latency: Duration) -> Outcome {
        Outcome {
            status: None,
            retry_after: None,
            excerpt: None,
            error: Some(error),
            latency,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A finished attempt, waiting for its group.
struct Finished {
    delivery: delivery::Model,
    outcome: Outcome,
    at: DateTime<Utc>,
    recorded: oneshot::Sender<Result<(), String>>,
}

/// The queue to the recording task; the task ends when the last `Recorder` is dropped, after
/// writing what was queued.
#[derive(Clone)]
pub struct Recorder(mpsc::UnboundedSender<Finished>);

impl Recorder {
    /// Starts the recording task.
    pub fn start(db: DatabaseConnection, settings: Settings) -> Recorder {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(run(db, settings, waiting));
        Recorder(queue)
    }

    /// Records the attempt `outcome` of `delivery` (claimed by this worker) and what it means for
    /// the delivery and its endpoint; returns once that is committed.
    pub async fn record(&self, delivery: delivery::Model, outcome: Outcome) -> Result<(), DbErr> {
        let (recorded, done) = oneshot::channel();
        self.0
            .send(Finished {
                delivery,
                outcome,
                at: Utc::now(),
                recorded,
            })
            .map_err(|_| DbErr::Custom("the webhook recorder has stopped".into()))?;
        done.await
            .map_err(|_| DbErr::Custom("the webhook recorder has stopped".into()))?
            .map_err(DbErr::Custom)
    }
}

async fn run(
    db: DatabaseConnection,
    settings: Settings,
    mut waiting: mpsc::UnboundedReceiver<Finished>,
) {
    let mut group = Vec::with_capacity(GROUP);
    while waiting.recv_many(&mut group, GROUP).await > 0 {
        let written = write(&db, &settings, &group).await;
        let results: Vec<Result<(), String>> = match written {
            Ok(()) => group.iter().map(|_| Ok(())).collect(),
            // One bad attempt must not keep the others from being recorded.
            Err(e) if group.len() > 1 => {
                tracing::warn!(error = %e, attempts = group.len(), "recording a group of webhook attempts failed; recording them one by one");
                let mut results = Vec::with_capacity(group.len());
                for one in &group {
                    results.push(
                        write(&db, &settings, std::slice::from_ref(one))
                            .await
                            .map_err(|e| e.to_string()),
                    );
                }
                results
            }
            Err(e) => vec![Err(e.to_string())],
        };
        for (finished, result) in group.drain(..).zip(results) {
            let _ = finished.recorded.send(result);
        }
    }
}

/// Writes a group's attempts and what they mean for their deliveries and endpoints, in one
/// transaction.
async fn write(
    db: &DatabaseConnection,
    settings: &Settings,
    group: &[Finished],
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    insert_attempts(&txn, group).await?;
    mark_delivered(&txn, group).await?;
    // Per app, in app order (so two workers lock endpoints in the same order): a success clears
    // `failing_since`; failures after the group's last success start it, unless it runs already.
    let mut per_app: BTreeMap<Uuid, Vec<&Finished>> = BTreeMap::new();
    for finished in group {
        if !finished.outcome.succeeded() {
            not_delivered(&txn, settings, finished).await?;
        }
        per_app
            .entry(finished.delivery.app_id)
            .or_default()
            .push(finished);
    }
    for (app, attempts) in per_app {
        let failed_since_success = match attempts.iter().rposition(|f| f.outcome.succeeded()) {
            Some(last) => {
                endpoint::Entity::update_many()
                    .col_expr(
                        endpoint::Column::FailingSince,
                        Expr::value(None::<DateTime<Utc>>),
                    )
                    .filter(endpoint::Column::AppId.eq(app))
                    .filter(endpoint::Column::FailingSince.is_not_null())
                    .exec(&txn)
                    .await?;
                &attempts[last + 1..]
            }
            None => &attempts[..],
        };
        if let Some(first) = failed_since_success.first() {
            failing(&txn, settings, app, first.at).await?;
        }
    }
    txn.commit().await
}

/// The group's attempts, in one insert.
async fn insert_attempts(txn: &DatabaseTransaction, group: &[Finished]) -> Result<(), DbErr> {
    attempt::Entity::insert_many(group.iter().map(|f| attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(f.delivery.id),
        attempted_at: Set(f.at),
        status_code: Set(f.outcome.status.map(i32::from)),
        latency_ms: Set(i32::try_from(f.outcome.latency.as_millis()).unwrap_or(i32::MAX)),
        // PostgreSQL's text refuses NUL, which an answer may well contain.
        response_excerpt: Set(f.outcome.excerpt.as_deref().map(without_nul)),
        error: Set(f.outcome.error.as_deref().map(without_nul)),
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// The group's delivered deliveries, in one update.
async fn mark_delivered(txn: &DatabaseTransaction, group: &[Finished]) -> Result<(), DbErr> {
    let delivered: Vec<Uuid> = group
        .iter()
        .filter(|f| f.outcome.succeeded())
        .map(|f| f.delivery.id)
        .collect();
    if !delivered.is_empty() {
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(delivery::Status::Delivered),
            )
            .col_expr(delivery::Column::DeliveredAt, Expr::value(Utc::now()))
            .col_expr(
                delivery::Column::NextAttemptAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(
                delivery::Column::LeasedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(
                delivery::Column::Attempts,
                Expr::col(delivery::Column::Attempts).add(1),
            )
            .filter(delivery::Column::Id.is_in(delivered))
            // Not one another worker delivered meanwhile (its lease had run out).
            .filter(delivery::Column::Status.eq(delivery::Status::Pending))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// A delivery whose attempt did not succeed: `failed` after 410 or when the schedule runs out,
/// otherwise due again after `Retry-After` (429, 503) or the schedule's next step.
async fn not_delivered(
    txn: &DatabaseTransaction,
    settings: &Settings,
    finished: &Finished,
) -> Result<(), DbErr> {
    let Finished {
        delivery: claimed,
        outcome,
        at,
        ..
    } = finished;
    let attempts = claimed.attempts + 1;
    let wait = match (outcome.status, outcome.retry_after) {
        (Some(410), _) => None,
        (Some(429 | 503), Some(after)) => Some(after.min(settings.max_retry_after)),
        _ => settings
            .schedule
            .get(usize::try_from(attempts - 1).unwrap_or(usize::MAX))
            .map(|step| jitter(*step)),
    };
    let (status, next) = match wait {
        Some(wait) => (
            delivery::Status::Pending,
            Some(*at + chrono::Duration::from_std(wait).unwrap_or_default()),
        ),
        None => (delivery::Status::Failed, None),
    };
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(status))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            delivery::Column::LeasedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(delivery::Column::Attempts, Expr::value(attempts))
        .filter(delivery::Column::Id.eq(claimed.id))
        // Still ours: not delivered, nor claimed again by another worker after our lease ran out.
        .filter(delivery::Column::Status.eq(delivery::Status::Pending))
        .filter(delivery::Column::LeasedUntil.eq(claimed.leased_until))
        .exec(txn)
        .await?;
    if outcome.status == Some(410) {
        disable(
            txn,
            claimed.app_id,
            "the endpoint answered 410 Gone; enable it again with enableWebhookEndpoint".into(),
        )
        .await?;
    }
    Ok(())
}

/// An endpoint whose attempts fail from `since` on: failing from then, unless it was already;
/// disabled once it has been failing for `disable_after` (as stored: another worker may have
/// started the clock earlier).
async fn failing(
    txn: &DatabaseTransaction,
    settings: &Settings,
    app: Uuid,
    since: DateTime<Utc>,
) -> Result<(), DbErr> {
    endpoint::Entity::update_many()
        .col_expr(endpoint::Column::FailingSince, Expr::value(since))
        .filter(endpoint::Column::AppId.eq(app))
        .filter(endpoint::Column::FailingSince.is_null())
        .exec(txn)
        .await?;
    let horizon =
        Utc::now() - chrono::Duration::from_std(settings.disable_after).unwrap_or_default();
    let failing_since = endpoint::Entity::find_by_id(app)
        .one(txn)
        .await?
        .and_then(|e| e.failing_since);
    if let Some(failing_since) = failing_since.filter(|at| *at <= horizon) {
        disable(
            txn,
            app,
            format!(
                "every attempt failed since {}; enable it again with enableWebhookEndpoint",
                failing_since.to_rfc3339()
            ),
        )
        .await?;
    }
    Ok(())
}

/// Disables the endpoint with `reason`, unless it is disabled already, and tells the developer:
/// `webhook_endpoint.disabled` waits in the app's deliveries (where the developer looks) and
/// reaches the app once the endpoint is enabled again.
async fn disable(txn: &DatabaseTransaction, app: Uuid, reason: String) -> Result<(), DbErr> {
    let now = Utc::now();
    let disabled = endpoint::Entity::update_many()
        .col_expr(endpoint::Column::DisabledAt, Expr::value(now))
        .col_expr(
            endpoint::Column::DisabledReason,
            Expr::value(reason.clone()),
        )
        .filter(endpoint::Column::AppId.eq(app))
        .filter(endpoint::Column::DisabledAt.is_null())
        .exec(txn)
        .await?;
    if disabled.rows_affected == 1 {
        let event = Event::new(
            nexus_protocol::events::ENDPOINT_DISABLED,
            serde_json::json!({ "app_id": app, "reason": reason, "disabled_at": now }),
        )
        .for_app(app);
        nexus_kit::outbox::record(txn, crate::name::NAME, event).await?;
    }
    Ok(())
}

fn without_nul(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// `step` ± 10 %.
fn jitter(step: Duration) -> Duration {
    let factor = 0.9 + rand::random::<f64>() * 0.2;
    step.mul_f64(factor)
}
