//! The OAuth server's finished material, deleted `Retention::keep` after it stopped being usable:
//! authorization codes once used or expired, refresh tokens past their expiry (a used one is
//! kept until then, so that presenting it again is still recognized as reuse and revokes its
//! grant). Grants and unexpired tokens are never touched.

use nexus_kit::retention::Retention;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entity::{oauth_code, oauth_refresh_token};

/// Deletes what is past `retention`; how many rows.
pub async fn prune(db: &DatabaseConnection, retention: Retention) -> Result<u64, DbErr> {
    let horizon = retention.horizon();
    let codes = oauth_code::Entity::delete_many()
        .filter(
            Condition::any()
                .add(oauth_code::Column::ExpiresAt.lt(horizon))
                .add(oauth_code::Column::UsedAt.lt(horizon)),
        )
        .exec(db)
        .await?;
    let tokens = oauth_refresh_token::Entity::delete_many()
        .filter(oauth_refresh_token::Column::ExpiresAt.lt(horizon))
        .exec(db)
        .await?;
    Ok(codes.rows_affected + tokens.rows_affected)
}

/// Prunes every `retention.interval`, for the apps service's process.
pub fn spawn(db: DatabaseConnection, retention: Retention) -> tokio::task::JoinHandle<()> {
    nexus_kit::retention::spawn("OAuth codes and tokens", retention, move |retention| {
        let db = db.clone();
        async move { prune(&db, retention).await }
    })
}
