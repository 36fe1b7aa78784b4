//! An app's endpoint: its signing secret (created with the first delivery, revealed only by a
//! rotation, stored sealed: `nexus_kit::secret_box`), rotation with a day's overlap, and enabling
//! it again after it was disabled.

use chrono::Utc;
use nexus_kit::secret_box::SecretBox;
use nexus_protocol::webhook_signature;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use super::entity::endpoint;

/// How long the secret before a rotation still signs.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// What an endpoint's secrets are sealed for: its row (both columns).
fn context(app: Uuid) -> String {
    format!("webhook_endpoint:{app}")
}

fn seal(secrets: &SecretBox, secret: &str, app: Uuid) -> Result<String, DbErr> {
    secrets
        .seal(secret, &context(app))
        .map_err(|e| DbErr::Custom(format!("{e:#}")))
}

/// The secrets that sign `endpoint`'s deliveries, opened: the current one, and the one before a
/// rotation while it still signs.
pub fn signing_secrets(
    secrets: &SecretBox,
    endpoint: &endpoint::Model,
) -> anyhow::Result<(String, Option<String>)> {
    let context = context(endpoint.app_id);
    let current = secrets.open_sealed(&endpoint.secret, &context)?;
    let previous = match (&endpoint.previous_secret, endpoint.previous_secret_until) {
        (Some(previous), Some(until)) if until > Utc::now() => {
            Some(secrets.open_sealed(previous, &context)?)
        }
        _ => None,
    };
    Ok((current, previous))
}

/// The app's endpoint, created (with a fresh secret) if it has none yet.
pub async fn ensure<C: ConnectionTrait>(
    conn: &C,
    secrets: &SecretBox,
    app: Uuid,
) -> Result<endpoint::Model, DbErr> {
    if let Some(found) = endpoint::Entity::find_by_id(app).one(conn).await? {
        return Ok(found);
    }
    endpoint::Entity::insert(endpoint::ActiveModel {
        app_id: Set(app),
        secret: Set(seal(secrets, &webhook_signature::new_secret(), app)?),
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
pub async fn rotate<C: ConnectionTrait>(
    conn: &C,
    secrets: &SecretBox,
    app: Uuid,
) -> Result<String, DbErr> {
    let current = ensure(conn, secrets, app).await?;
    let secret = webhook_signature::new_secret();
    let mut active: endpoint::ActiveModel = current.clone().into();
    active.previous_secret = Set(Some(current.secret));
    active.previous_secret_until = Set(Some(Utc::now() + ROTATION_OVERLAP));
    active.secret = Set(seal(secrets, &secret, app)?);
    active.update(conn).await?;
    Ok(secret)
}

/// `nexus secrets reencrypt`: every endpoint's secrets sealed with `secrets`' newest key (those
/// stored before encryption too); how many rows changed. A row changes only if it still holds
/// what was read, so a concurrent rotation is never overwritten.
pub async fn reencrypt(db: &DatabaseConnection, secrets: &SecretBox) -> anyhow::Result<u64> {
    let mut changed = 0;
    for found in endpoint::Entity::find().all(db).await? {
        let stale =
            |stored: &Option<String>| stored.as_ref().is_some_and(|s| !secrets.is_current(s));
        if secrets.is_current(&found.secret) && !stale(&found.previous_secret) {
            continue;
        }
        let context = context(found.app_id);
        let reseal = |stored: &str| secrets.reseal(stored, &context);
        let previous = found.previous_secret.as_deref().map(reseal).transpose()?;
        let mut update = endpoint::Entity::update_many()
            .col_expr(
                endpoint::Column::Secret,
                Expr::value(reseal(&found.secret)?),
            )
            .col_expr(endpoint::Column::PreviousSecret, Expr::value(previous))
            .filter(endpoint::Column::AppId.eq(found.app_id))
            .filter(endpoint::Column::Secret.eq(found.secret.clone()));
        update = match &found.previous_secret {
            Some(previous) => update.filter(endpoint::Column::PreviousSecret.eq(previous.clone())),
            None => update.filter(endpoint::Column::PreviousSecret.is_null()),
        };
        changed += update.exec(db).await?.rows_affected;
    }
    Ok(changed)
}

/// Enabled again: pending deliveries resume, new events are delivered.
pub async fn enable<C: ConnectionTrait>(
    conn: &C,
    secrets: &SecretBox,
    app: Uuid,
) -> Result<endpoint::Model, DbErr> {
    let current = ensure(conn, secrets, app).await?;
    let mut active: endpoint::ActiveModel = current.into();
    active.disabled_at = Set(None);
    active.disabled_reason = Set(None);
    active.failing_since = Set(None);
    active.update(conn).await
}
