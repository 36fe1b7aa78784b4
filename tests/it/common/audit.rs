//! The audit log as the database holds it, read with a connection of the test's own.

use nexus_kit::audit::entity as audit_log;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use super::TestStack;

pub use audit_log::Model as AuditEntry;

pub struct AuditLog {
    pub db: DatabaseConnection,
    /// The platform's signing keys (the sealer signs the chain's head with them).
    pub keys: std::sync::Arc<nexus_kit::token::KeyStore>,
}

impl AuditLog {
    pub async fn open(stack: &TestStack) -> AuditLog {
        AuditLog {
            db: sea_orm::Database::connect(stack.db.url())
                .await
                .expect("connect to the test database"),
            keys: stack.stack.keys.clone(),
        }
    }

    /// Every entry, oldest first.
    pub async fn entries(&self) -> Vec<AuditEntry> {
        self.since(0).await
    }

    /// The entries appended after position `seq`, oldest first (sealed first: what an action
    /// appended a moment ago is chained here rather than by the platform's next round).
    pub async fn since(&self, seq: i64) -> Vec<AuditEntry> {
        nexus_kit::audit::seal(&self.db, &self.keys)
            .await
            .expect("seal the audit log");
        audit_log::Entity::find()
            .filter(audit_log::Column::Seq.gt(seq))
            .order_by_asc(audit_log::Column::Seq)
            .all(&self.db)
            .await
            .expect("read the audit log")
    }

    /// The newest entry's position (0 when there is none): what `since` counts from.
    pub async fn mark(&self) -> i64 {
        self.entries().await.last().and_then(|e| e.seq).unwrap_or(0)
    }

    /// The entries with `action`, oldest first.
    pub async fn of(&self, action: &str) -> Vec<AuditEntry> {
        self.entries()
            .await
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }

    /// Waits up to `within` for `count` entries with `action` (what background work appends);
    /// returns them.
    pub async fn wait_for(
        &self,
        action: &str,
        count: usize,
        within: std::time::Duration,
    ) -> Vec<AuditEntry> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let found = self.of(action).await;
            if found.len() >= count {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not {count} `{action}` entries within {within:?}: {:?}",
                actions(&self.entries().await)
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Asserts the chain is whole (every hash and link, and the head).
    pub async fn assert_whole(&self) {
        nexus_kit::audit::seal(&self.db, &self.keys)
            .await
            .expect("seal the audit log");
        let verified = nexus_kit::audit::verify(&self.db, &self.keys)
            .await
            .expect("verify the audit log");
        assert_eq!(verified.first_broken, None, "{verified:?}");
        assert_eq!(verified.checked, self.entries().await.len() as u64);
    }
}

/// The actions of `entries`, in order.
pub fn actions(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

/// Asserts who did what, where, and to what: `actor` is (type, id), `target` (type, id).
pub fn assert_entry(
    entry: &AuditEntry,
    action: &str,
    actor: (&str, Option<&str>),
    organization: Option<&str>,
    target: Option<(&str, &str)>,
) {
    let seen = (
        entry.action.as_str(),
        (entry.actor_type.as_str(), entry.actor_id.as_deref()),
        entry.organization_id.map(|o| o.to_string()),
        entry.target_type.as_deref().zip(entry.target_id.as_deref()),
    );
    let expected = (action, actor, organization.map(str::to_owned), target);
    assert_eq!(seen, expected, "entry {:?}: {entry:?}", entry.seq);
}

/// An entry's details as JSON.
pub fn details(entry: &AuditEntry) -> Value {
    serde_json::from_str(&entry.details).expect("details are JSON")
}
