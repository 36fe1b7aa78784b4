//! Webhooks to apps. Every service records events in the outbox with the change that causes
//! them (`nexus_kit::outbox`); here a worker fans them out to the apps that may hear them
//! (`fanout`) and delivers them as Standard Webhooks with retries (`delivery`). Any number of
//! apps-service processes run a worker each on PostgreSQL; on SQLite, one.

pub mod delivery;
pub mod endpoints;
pub mod entity;
pub mod envelope;
pub mod fanout;
pub mod operations;
pub mod recorder;
pub mod settings;
pub mod shaping;
pub mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use nexus_kit::token::KeyStore;
use nexus_protocol::outbound::{FetchPolicy, Outbound};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use self::delivery::Deliverer;
use self::entity::delivery as deliveries;
pub use self::settings::Settings;
use nexus_kit::outbox::entity as outbox;

/// A running worker. `stop` ends it cleanly; dropping it stops claiming at once (attempts in
/// flight still finish and are recorded, if the database is still open).
pub struct Worker {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
    deliverer: Arc<Deliverer>,
}

impl Worker {
    /// Stops claiming and waits for the attempts in flight to be recorded (at most one attempt's
    /// time limit and a little): call it before closing the database the worker writes to.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        // An attempt: its payload query through the router, then its send, then its recording.
        let grace = delivery::PAYLOAD_QUERY_TIMEOUT
            + self.deliverer.settings.timeout
            + Duration::from_secs(5);
        let finished = async {
            let _ = (&mut self.task).await;
            let _ = self
                .deliverer
                .total
                .acquire_many(delivery::MAX_IN_FLIGHT as u32)
                .await;
        };
        if tokio::time::timeout(grace, finished).await.is_err() {
            tracing::warn!(
                "webhook attempts still in flight at shutdown; their leases will expire and they will be retried"
            );
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a worker.
pub fn spawn(
    db: DatabaseConnection,
    keys: Arc<KeyStore>,
    secrets: Arc<nexus_kit::secret_box::SecretBox>,
    settings: Settings,
) -> anyhow::Result<Worker> {
    let client = Outbound::new(FetchPolicy {
        timeout: settings.timeout,
        max_bytes: 64 * 1024,
        allow_private: settings.allow_private,
    })?;
    let deliverer = Arc::new(Deliverer::new(db, keys, secrets, client, settings));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    Ok(Worker {
        task: tokio::spawn(run(deliverer.clone(), stopping)),
        stop,
        deliverer,
    })
}

async fn run(deliverer: Arc<Deliverer>, mut stopping: tokio::sync::watch::Receiver<bool>) {
    let mut last_prune = None::<tokio::time::Instant>;
    while !*stopping.borrow() {
        let fanned = fanout::run(&deliverer.db, deliverer.settings.batch)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "webhook fan-out failed; retrying");
                0
            });
        let room = (deliverer.total.available_permits() as u64).min(deliverer.settings.batch);
        let claimed = match room {
            0 => Vec::new(),
            _ => delivery::claim(&deliverer, room).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "claiming webhook deliveries failed; retrying");
                Vec::new()
            }),
        };
        let idle = fanned == 0 && claimed.is_empty();
        for one in claimed {
            let Ok(permit) = deliverer.total.clone().acquire_owned().await else {
                return;
            };
            let deliverer = deliverer.clone();
            tokio::spawn(async move {
                delivery::deliver(deliverer, one).await;
                drop(permit);
            });
        }
        if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
            last_prune = Some(tokio::time::Instant::now());
            prune(&deliverer).await;
        }
        if idle {
            // New events are looked for every `poll_interval`; a finished delivery may leave
            // room for its app's next one at once.
            tokio::select! {
                _ = tokio::time::sleep(deliverer.settings.poll_interval) => {}
                _ = deliverer.finished.notified() => {}
                _ = stopping.changed() => {}
            }
        }
    }
}

/// Forgets finished deliveries (their attempts go with them) and dispatched events older than
/// the retention: a replay reaches back that far.
async fn prune(deliverer: &Deliverer) {
    let horizon =
        Utc::now() - chrono::Duration::from_std(deliverer.settings.retention).unwrap_or_default();
    let deliveries = deliveries::Entity::delete_many()
        .filter(deliveries::Column::Status.ne(deliveries::Status::Pending))
        .filter(deliveries::Column::CreatedAt.lt(horizon))
        .exec(&deliverer.db)
        .await;
    let events = outbox::Entity::delete_many()
        .filter(outbox::Column::DispatchedAt.is_not_null())
        .filter(outbox::Column::CreatedAt.lt(horizon))
        .exec(&deliverer.db)
        .await;
    if let Err(e) = deliveries.and(events) {
        tracing::error!(error = %e, "pruning old webhook deliveries failed");
    }
}
