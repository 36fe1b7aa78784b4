//! Publishing takes turns, and the changes that queued during a turn are published together.
//!
//! Every change to the live set (an approval, a suspension, a rollback) ends in a new head, and
//! composing the head is the costly part: it grows with every live app. Requests that arrive while
//! a head is being composed wait in one queue; the next turn applies all of them in order, each on
//! the live set the one before it left (each in a savepoint, so one that is refused changes
//! nothing), composes once and records one head. So a dozen approvals at once cost two
//! compositions, not a dozen, and the order of outcomes is exactly that of one-by-one publishing.
//! If the changes of a turn do not compose together, they are published one by one, so each gets
//! the answer it would have got alone.
//!
//! The turn itself runs in a task of its own: a request whose client goes away does not cancel
//! the others' changes queued with it.

use std::sync::{Arc, PoisonError};

use nexus_kit::audit::{self, Entry};
use nexus_kit::error::{Code, Result, internal};
use nexus_registry::Registry;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::changes::{self, Change, Changed};
use super::live_set::{self, LiveSet};
use crate::entity::supergraph_version;

type Answer = Result<(Changed, supergraph_version::Model)>;

struct Request {
    admin: Uuid,
    change: Change,
    audit: Entry,
    answer: oneshot::Sender<Answer>,
}

/// The queue of changes waiting for their turn, in one process (other processes wait on the
/// database: see [`live_set::take_publishing_lock`]).
pub struct Publisher {
    db: DatabaseConnection,
    registry: Arc<Registry>,
    waiting: std::sync::Mutex<Vec<Request>>,
}

impl Publisher {
    pub fn new(db: DatabaseConnection, registry: Arc<Registry>) -> Arc<Publisher> {
        Arc::new(Publisher {
            db,
            registry,
            waiting: Default::default(),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Queues `change` and waits until a turn has published it (or refused it).
    pub(crate) async fn publish(
        self: &Arc<Self>,
        admin: Uuid,
        change: Change,
        audit: Entry,
    ) -> Answer {
        let (answer, answered) = oneshot::channel();
        self.queue().push(Request {
            admin,
            change,
            audit,
            answer,
        });
        let publisher = self.clone();
        tokio::spawn(async move { publisher.take_turn().await });
        answered.await.map_err(|_| {
            Code::Internal.error("publishing was interrupted; look at the head before trying again")
        })?
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Request>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the turn, then publishes whatever is queued (nothing, if an earlier turn took
    /// this task's request along).
    async fn take_turn(&self) {
        let _turn = self.registry.publishing.lock().await;
        let batch = std::mem::take(&mut *self.queue());
        if batch.is_empty() {
            return;
        }
        let together = {
            let changes: Vec<_> = batch.iter().map(as_change).collect();
            self.publish_together(&changes).await
        };
        match together {
            Ok(answers) => {
                for (request, answer) in batch.into_iter().zip(answers) {
                    let _ = request.answer.send(answer);
                }
            }
            Err(Unpublished::DoesNotCompose(_)) if batch.len() > 1 => {
                tracing::info!(
                    changes = batch.len(),
                    "changes queued together do not compose together; publishing them one by one"
                );
                for request in batch {
                    let answer = self.publish_alone(&as_change(&request)).await;
                    let _ = request.answer.send(answer);
                }
            }
            Err(Unpublished::DoesNotCompose(e) | Unpublished::Failed(e)) => {
                for request in batch {
                    let _ = request.answer.send(Err(e.clone()));
                }
            }
        }
    }

    async fn publish_alone(&self, change: &QueuedChange<'_>) -> Answer {
        match self.publish_together(std::slice::from_ref(change)).await {
            Ok(mut answers) => answers
                .pop()
                .unwrap_or_else(|| Err(Code::Internal.error("a change without an answer"))),
            Err(Unpublished::DoesNotCompose(e) | Unpublished::Failed(e)) => Err(e),
        }
    }

    /// Applies `changes` in order in one transaction and publishes one head for all that were
    /// applied. Each change's own refusal is its answer; nothing is written unless the result
    /// composes.
    async fn publish_together(
        &self,
        changes: &[QueuedChange<'_>],
    ) -> std::result::Result<Vec<Answer>, Unpublished> {
        let failed = Unpublished::Failed;
        let txn = self.db.begin().await.map_err(internal).map_err(failed)?;
        live_set::take_publishing_lock(&txn).await.map_err(failed)?;
        let mut live: LiveSet = live_set::live_set(&txn).await.map_err(failed)?;
        let mut outcomes: Vec<Result<Changed>> = Vec::with_capacity(changes.len());
        let mut reasons = Vec::new();
        let mut entries = Vec::new();
        let mut created_by = None;
        for queued in changes {
            let savepoint = txn.begin().await.map_err(internal).map_err(failed)?;
            let applied = changes::apply(
                &savepoint,
                queued.admin,
                queued.change,
                live.clone(),
                queued.audit.clone(),
            )
            .await;
            match applied {
                Ok(applied) => {
                    savepoint.commit().await.map_err(internal).map_err(failed)?;
                    live = applied.live;
                    reasons.push(applied.reason);
                    entries.push(applied.audit);
                    created_by.get_or_insert(queued.admin);
                    outcomes.push(Ok(applied.changed));
                }
                Err(refused) => {
                    savepoint
                        .rollback()
                        .await
                        .map_err(internal)
                        .map_err(failed)?;
                    outcomes.push(Err(refused));
                }
            }
        }
        let Some(created_by) = created_by else {
            // Every change was refused: there is nothing to publish.
            let _ = txn.rollback().await;
            return Ok(outcomes
                .into_iter()
                .map(|o| {
                    o.and_then(|_| Err(Code::Internal.error("a change applied without a head")))
                })
                .collect());
        };
        let (supergraph, listed) = live_set::compose_live(&self.registry, live)
            .await
            .map_err(Unpublished::DoesNotCompose)?;
        let head = live_set::record_head(&txn, &supergraph, listed, created_by, reasons.join("; "))
            .await
            .map_err(failed)?;
        let head_actor = entries
            .first()
            .map(|e: &Entry| (e.actor.clone(), e.address.clone()));
        for entry in entries {
            audit::record(&txn, entry).await.map_err(failed)?;
        }
        if let Some((actor, address)) = head_actor {
            audit::record(&txn, live_set::published(actor, address, &head))
                .await
                .map_err(failed)?;
        }
        txn.commit().await.map_err(internal).map_err(failed)?;
        self.registry.publish(supergraph);
        Ok(outcomes
            .into_iter()
            .map(|o| o.map(|changed| (changed, head.clone())))
            .collect())
    }
}

struct QueuedChange<'a> {
    admin: Uuid,
    change: &'a Change,
    audit: &'a Entry,
}

fn as_change(request: &Request) -> QueuedChange<'_> {
    QueuedChange {
        admin: request.admin,
        change: &request.change,
        audit: &request.audit,
    }
}

/// Why a turn published nothing.
enum Unpublished {
    /// The changes applied, but the live set they leave does not compose.
    DoesNotCompose(nexus_kit::Error),
    /// Reading or writing failed: every change of the turn gets this error.
    Failed(nexus_kit::Error),
}
