//! What a developer asks of their endpoint: redeliver one delivery, replay a time range, send a
//! test event. Each leaves a delivery the worker sends within a second.

use chrono::{DateTime, Utc};
use nexus_kit::outbox::{self, entity as outbox_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::entity::delivery;
use super::fanout;

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

/// Every event of `[since, until)` for the app again: its failed deliveries are due again, and
/// events it never got (its endpoint was disabled) get a delivery now. Delivered ones are left
/// alone. Returns how many deliveries are due.
pub async fn replay(
    db: &DatabaseConnection,
    app: Uuid,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let txn = super::begin_writing(db).await?;
    let reset = due_again()
        .filter(delivery::Column::AppId.eq(app))
        .filter(delivery::Column::Status.eq(delivery::Status::Failed))
        .filter(delivery::Column::CreatedAt.gte(since))
        .filter(delivery::Column::CreatedAt.lt(until))
        .exec(&txn)
        .await?
        .rows_affected;
    let missed = outbox_event::Entity::find()
        .filter(outbox_event::Column::CreatedAt.gte(since))
        .filter(outbox_event::Column::CreatedAt.lt(until))
        .filter(outbox_event::Column::DispatchedAt.is_not_null())
        .filter(
            Condition::any()
                .add(outbox_event::Column::AppId.eq(app))
                .add(outbox_event::Column::OrganizationId.is_not_null()),
        )
        .all(&txn)
        .await?;
    let created = fanout::create_deliveries(&txn, &missed, Some(app)).await?;
    txn.commit().await?;
    Ok(reset + created as u64)
}

/// A `webhook.test` event for the app alone; returns its delivery.
pub async fn send_test(
    db: &DatabaseConnection,
    app: Uuid,
) -> Result<Option<delivery::Model>, DbErr> {
    let txn = db.begin().await?;
    let event = outbox::Event::new(
        "webhook.test",
        json!({ "app_id": app, "message": "a test event, sent on request" }),
    )
    .for_app(app);
    let id = outbox::record(&txn, crate::NAME, event).await?;
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
    txn.commit().await?;
    Ok(created)
}
