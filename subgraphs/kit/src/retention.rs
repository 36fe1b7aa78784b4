//! How long finished sign-in material (used or expired codes, tokens, challenges) is kept, and
//! the loop that deletes it: each service prunes its own tables (identity's accounts, apps'
//! OAuth) with this, so that their size follows live use, not history.

use std::future::Future;
use std::time::Duration;

/// `[retention]` in the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// What is finished stays this long (for support questions and reuse detection), then goes.
    pub keep: Duration,
    /// How often a service looks.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep: Duration::from_secs(7 * 86_400),
            interval: Duration::from_secs(3600),
        }
    }
}

impl Retention {
    /// The moment before which finished material goes.
    pub fn horizon(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() - chrono::Duration::from_std(self.keep).unwrap_or_default()
    }
}

/// Runs `prune` every `retention.interval` (the first after one interval: not at start, when a
/// fleet restarting at once would all prune together); `what` names it in the logs.
pub fn spawn<F, Fut>(
    what: &'static str,
    retention: Retention,
    prune: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Retention) -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, sea_orm::DbErr>> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + retention.interval,
            retention.interval,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match prune(retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, what, "pruned finished rows"),
                Err(e) => tracing::error!(error = %e, what, "pruning failed; retrying later"),
            }
        }
    })
}
