//! What a developer asks of their endpoint: redeliver one delivery, replay a time range, send a
//! test event. Each leaves a delivery the worker sends within a second.

use chrono::{DateTime, Utc};
use nexus_kit::outbox::{self, entity as outbox_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::entity::{delivery, endpoint};
use super::fanout;
use crate::entity::installation::{self, InstallationStatus};

/// Deliveries made due again now (pending, no worker's lease), same `webhook-id` and body.
fn due_again() -> sea_orm::UpdateMany<delivery::Entity> {
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(delivery::Status::Pending),
        )
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(Utc::now()))
        .col_expr(
            delivery::Column::LeasedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

/// Due again now, whatever became of it.
pub async fn redeliver(db: &DatabaseConnection, id: Uuid) -> Result<(), DbErr> {
    due_again()
        .filter(delivery::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// The most events one replay looks at: a longer window is replayed in parts.
pub const MAX_REPLAYED_EVENTS: usize = 10_000;

/// Why a replay did nothing.
#[derive(Debug)]
pub enum ReplayRefused {
    /// The window holds more than `MAX_REPLAYED_EVENTS` events for the app.
    TooMany,
    Db(DbErr),
}

impl From<DbErr> for ReplayRefused {
    fn from(e: DbErr) -> Self {
        ReplayRefused::Db(e)
    }
}

/// Every event of `[since, until)` for the app again: its failed deliveries are due again, and
/// events it never got (its endpoint was disabled) get a delivery now — only from organizations
/// where it is installed now. Delivered ones are left alone. Returns how many deliveries are due.
///
/// It reads only the app's own rows, by index (its installations, those organizations' events
/// and its own), before taking the write lock, which it holds only to write.
pub async fn replay(
    db: &DatabaseConnection,
    app: Uuid,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    audit: nexus_kit::audit::Entry,
) -> Result<u64, ReplayRefused> {
    let organizations: Vec<Uuid> = installation::Entity::find()
        .filter(installation::Column::AppId.eq(app))
        .filter(installation::Column::Status.eq(InstallationStatus::Active))
        .all(db)
        .await?
        .into_iter()
        .map(|i| i.organization_id)
        .collect();
    let in_window = || {
        outbox_event::Entity::find()
            .filter(outbox_event::Column::CreatedAt.gte(since))
            .filter(outbox_event::Column::CreatedAt.lt(until))
            .filter(outbox_event::Column::DispatchedAt.is_not_null())
            .limit(MAX_REPLAYED_EVENTS as u64 + 1)
    };
    let mut missed = in_window()
        .filter(outbox_event::Column::AppId.eq(app))
        .all(db)
        .await?;
    for chunk in organizations.chunks(500) {
        missed.extend(
            in_window()
                .filter(outbox_event::Column::OrganizationId.is_in(chunk.iter().copied()))
                .filter(
                    outbox_event::Column::AppId
                        .ne(app)
                        .or(outbox_event::Column::AppId.is_null()),
                )
                .all(db)
                .await?,
        );
        if missed.len() > MAX_REPLAYED_EVENTS {
            return Err(ReplayRefused::TooMany);
        }
    }
    if missed.len() > MAX_REPLAYED_EVENTS {
        return Err(ReplayRefused::TooMany);
    }
    missed.sort_by_key(|e| e.created_at);
    let txn = nexus_kit::db::begin_writing(db).await?;
    // The app's failed deliveries due again: those about no organization, or about one where it
    // is installed now.
    let mut abouts: Vec<Condition> = organizations
        .chunks(500)
        .map(|chunk| {
            Condition::any()
                .add(delivery::Column::OrganizationId.is_null())
                .add(delivery::Column::OrganizationId.is_in(chunk.iter().copied()))
        })
        .collect();
    if abouts.is_empty() {
        abouts.push(Condition::any().add(delivery::Column::OrganizationId.is_null()));
    }
    let mut reset = 0;
    for about in abouts {
        reset += due_again()
            .filter(delivery::Column::AppId.eq(app))
            .filter(delivery::Column::Status.eq(delivery::Status::Failed))
            .filter(delivery::Column::CreatedAt.gte(since))
            .filter(delivery::Column::CreatedAt.lt(until))
            .filter(about)
            .exec(&txn)
            .await?
            .rows_affected;
    }
    let created = fanout::create_deliveries(&txn, &missed, Some(app)).await?;
    let due = reset + created as u64;
    let entry = audit.details(json!({ "since": since, "until": until, "due": due }));
    nexus_kit::audit::append(&txn, entry).await?;
    txn.commit().await?;
    Ok(due)
}

/// Claims the app's turn to replay: at most one replay per `interval` per app, whichever
/// process asks (a conditional write). `Err` with the wait when it is not its turn.
pub async fn claim_replay(
    db: &DatabaseConnection,
    app: Uuid,
    interval: std::time::Duration,
) -> Result<Result<(), std::time::Duration>, DbErr> {
    let now = Utc::now();
    let earliest = now - chrono::Duration::from_std(interval).unwrap_or_default();
    let claimed = endpoint::Entity::update_many()
        .col_expr(endpoint::Column::ReplayedAt, Expr::value(now))
        .filter(endpoint::Column::AppId.eq(app))
        .filter(
            Condition::any()
                .add(endpoint::Column::ReplayedAt.is_null())
                .add(endpoint::Column::ReplayedAt.lte(earliest)),
        )
        .exec(db)
        .await?;
    if claimed.rows_affected == 1 {
        return Ok(Ok(()));
    }
    let last = endpoint::Entity::find_by_id(app)
        .one(db)
        .await?
        .and_then(|e| e.replayed_at)
        .unwrap_or(now);
    let wait = (last + chrono::Duration::from_std(interval).unwrap_or_default() - now)
        .to_std()
        .unwrap_or_default();
    Ok(Err(wait))
}

/// A `webhook.test` event for the app alone; returns its delivery.
pub async fn send_test(
    db: &DatabaseConnection,
    app: Uuid,
) -> Result<Option<delivery::Model>, DbErr> {
    let event = outbox::Event::new(
        "webhook.test",
        json!({ "app_id": app, "message": "a test event, sent on request" }),
    )
    .for_app(app);
    send_to_app(db, event, app).await
}

/// Records `event` and fans it out to `app` alone, under the rules every event goes through (the
/// app's subscription, the installation's scopes); returns the delivery, if the app may hear it.
pub async fn send_to_app(
    db: &DatabaseConnection,
    event: outbox::Event,
    app: Uuid,
) -> Result<Option<delivery::Model>, DbErr> {
    let txn = db.begin().await?;
    let id = outbox::record(&txn, crate::name::NAME, event).await?;
    let recorded = outbox_event::Entity::find_by_id(id).all(&txn).await?;
    fanout::create_deliveries(&txn, &recorded, Some(app)).await?;
    outbox_event::Entity::update_many()
        .col_expr(outbox_event::Column::DispatchedAt, Expr::value(Utc::now()))
        .filter(outbox_event::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let created = delivery::Entity::find()
        .filter(delivery::Column::EventId.eq(id))
        .one(&txn)
        .await?;
    // An event nobody hears is not kept.
    match created {
        Some(_) => txn.commit().await?,
        None => txn.rollback().await?,
    }
    Ok(created)
}
