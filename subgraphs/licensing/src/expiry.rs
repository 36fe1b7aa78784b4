//! `license.expired`: a license runs out by the clock, with no change to commit it, so a job
//! looks for active licenses past `expires_at` and announces each expiry once. The announcement
//! and the mark that it was made (`expiry_announced_for` = that `expires_at`) are one
//! conditional write: of several licensing processes, one announces. A renewed license that runs
//! out again is announced again.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use crate::entity::license::{self, LicenseStatus};

/// How often the job looks, unless told otherwise.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Licenses looked at per round.
const BATCH: u64 = 500;

/// Announces the expiries due now; returns how many it announced.
pub async fn announce_due(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let now = Utc::now();
    let due = license::Entity::find()
        .filter(license::Column::Status.eq(LicenseStatus::Active))
        .filter(license::Column::ExpiresAt.lte(now))
        .filter(not_announced())
        .order_by_asc(license::Column::ExpiresAt)
        .limit(BATCH)
        .all(db)
        .await?;
    let mut announced = 0;
    for expired in due {
        let txn = db.begin().await?;
        // Only if it is still active, still past the same expiry, and not announced meanwhile.
        let marked = license::Entity::update_many()
            .col_expr(
                license::Column::ExpiryAnnouncedFor,
                Expr::col(license::Column::ExpiresAt).into(),
            )
            .filter(license::Column::Id.eq(expired.id))
            .filter(license::Column::Status.eq(LicenseStatus::Active))
            .filter(license::Column::ExpiresAt.eq(expired.expires_at))
            .filter(not_announced())
            .exec(&txn)
            .await?;
        if marked.rows_affected == 1 {
            nexus_kit::outbox::record(
                &txn,
                crate::name::NAME,
                crate::events::license("license.expired", &expired),
            )
            .await?;
            announced += 1;
        }
        txn.commit().await?;
    }
    Ok(announced)
}

/// Its current `expires_at` has not been announced.
fn not_announced() -> Condition {
    Condition::any()
        .add(license::Column::ExpiryAnnouncedFor.is_null())
        .add(
            Expr::col(license::Column::ExpiryAnnouncedFor)
                .ne(Expr::col(license::Column::ExpiresAt)),
        )
}

/// Runs `announce_due` every `interval` until the runtime stops.
pub fn spawn(db: DatabaseConnection, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = announce_due(&db).await {
                tracing::error!(error = %e, "announcing expired licenses failed; retrying");
            }
        }
    })
}
