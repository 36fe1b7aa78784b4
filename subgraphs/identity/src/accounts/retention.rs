//! Identity's finished sign-in material, deleted `Retention::keep` after it stopped being
//! usable: refresh tokens past their expiry (a used one is kept until then, so that presenting it
//! again is still recognized as reuse), second-factor challenges and mailed tokens once used or
//! expired. Sessions and unexpired tokens are never touched.

use nexus_kit::retention::Retention;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entity::{email_token, refresh_token, second_factor_challenge as challenge};

/// Deletes what is past `retention`; how many rows.
pub async fn prune(db: &DatabaseConnection, retention: Retention) -> Result<u64, DbErr> {
    let horizon = retention.horizon();
    let tokens = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::ExpiresAt.lt(horizon))
        .exec(db)
        .await?;
    let challenges = challenge::Entity::delete_many()
        .filter(
            Condition::any()
                .add(challenge::Column::ExpiresAt.lt(horizon))
                .add(challenge::Column::UsedAt.lt(horizon)),
        )
        .exec(db)
        .await?;
    // Letters sent are counted per day (mail limits) from these: a day is far inside `keep`.
    let letters = email_token::Entity::delete_many()
        .filter(
            Condition::any()
                .add(email_token::Column::ExpiresAt.lt(horizon))
                .add(email_token::Column::UsedAt.lt(horizon)),
        )
        .exec(db)
        .await?;
    Ok(tokens.rows_affected + challenges.rows_affected + letters.rows_affected)
}

/// Prunes every `retention.interval`, for identity's process.
pub fn spawn(db: DatabaseConnection, retention: Retention) -> tokio::task::JoinHandle<()> {
    nexus_kit::retention::spawn("identity sign-in material", retention, move |retention| {
        let db = db.clone();
        async move { prune(&db, retention).await }
    })
}
