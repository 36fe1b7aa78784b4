//! An app's endpoint: its signing secret (created with the first delivery, revealed only by a
//! rotation), rotation with a day's overlap, and enabling it again after it was disabled.

use chrono::Utc;
use nexus_protocol::webhook_signature;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

use super::entity::endpoint;

/// How long the secret before a rotation still signs.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// The app's endpoint, created (with a fresh secret) if it has none yet.
pub async fn ensure<C: ConnectionTrait>(conn: &C, app: Uuid) -> Result<endpoint::Model, DbErr> {
    if let Some(found) = endpoint::Entity::find_by_id(app).one(conn).await? {
        return Ok(found);
    }
    endpoint::Entity::insert(endpoint::ActiveModel {
        app_id: Set(app),
        secret: Set(webhook_signature::new_secret()),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        failing_since: Set(None),
        disabled_at: Set(None),
        disabled_reason: Set(None),
        created_at: Set(Utc::now()),
        replayed_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(endpoint::Column::AppId)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(conn)
    .await?;
    endpoint::Entity::find_by_id(app)
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("webhook endpoint of app {app}")))
}

/// A new secret, returned once; the old one keeps signing for `ROTATION_OVERLAP`.
pub async fn rotate<C: ConnectionTrait>(conn: &C, app: Uuid) -> Result<String, DbErr> {
    let current = ensure(conn, app).await?;
    let secret = webhook_signature::new_secret();
    let mut active: endpoint::ActiveModel = current.clone().into();
    active.previous_secret = Set(Some(current.secret));
    active.previous_secret_until = Set(Some(Utc::now() + ROTATION_OVERLAP));
    active.secret = Set(secret.clone());
    active.update(conn).await?;
    Ok(secret)
}

/// Enabled again: pending deliveries resume, new events are delivered.
pub async fn enable<C: ConnectionTrait>(conn: &C, app: Uuid) -> Result<endpoint::Model, DbErr> {
    let current = ensure(conn, app).await?;
    let mut active: endpoint::ActiveModel = current.into();
    active.disabled_at = Set(None);
    active.disabled_reason = Set(None);
    active.failing_since = Set(None);
    active.update(conn).await
}
