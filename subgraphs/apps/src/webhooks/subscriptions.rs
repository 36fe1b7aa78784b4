//! What an app's live manifest subscribes to: `webhooks.endpoint` and `webhooks.events`, each
//! event a name or `{ "event": name, "query": "…" }`. Read from the stored JSON loosely, so a
//! manifest stored by an older Nexus never stops the dispatcher.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::entity::app_version::{self, AppVersionStatus};

/// The subscriptions of those of `apps` whose live (approved) version declares webhooks.
pub async fn live<C: ConnectionTrait>(
    conn: &C,
    apps: impl IntoIterator<Item = Uuid>,
) -> Result<BTreeMap<Uuid, Subscriptions>, DbErr> {
    Ok(app_version::Entity::find()
        .filter(app_version::Column::AppId.is_in(apps))
        .filter(app_version::Column::Status.eq(AppVersionStatus::Approved))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|v| Some((v.app_id, Subscriptions::from_manifest(&v.manifest)?)))
        .collect())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriptions {
    pub endpoint: String,
    /// Event name → the GraphQL query that shapes its `data`, if any.
    pub events: BTreeMap<String, Option<String>>,
    /// The endpoint is disabled: only the notice that it was is wanted.
    pub only_notices: bool,
}

impl Subscriptions {
    pub fn from_manifest(manifest: &Value) -> Option<Subscriptions> {
        let webhooks = manifest.get("webhooks")?;
        let endpoint = webhooks.get("endpoint")?.as_str()?.to_owned();
        let events = webhooks
            .get("events")?
            .as_array()?
            .iter()
            .filter_map(|entry| match entry {
                Value::String(name) => Some((name.clone(), None)),
                Value::Object(shaped) => Some((
                    shaped.get("event")?.as_str()?.to_owned(),
                    shaped
                        .get("query")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                )),
                _ => None,
            })
            .collect();
        Some(Subscriptions {
            endpoint,
            events,
            only_notices: false,
        })
    }

    pub fn wants(&self, event_type: &str) -> bool {
        match self.only_notices {
            true => event_type == nexus_protocol::events::ENDPOINT_DISABLED,
            false => {
                nexus_protocol::events::ALWAYS_SENT.contains(&event_type)
                    || self.events.contains_key(event_type)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_shaped_events_are_read_and_anything_else_is_nothing() {
        let manifest = json!({ "webhooks": { "endpoint": "https://a.test/hooks", "events": [
            "app.installed", { "event": "member.added", "query": "query($userId: ID!) { user(id: $userId) { email } }" }, 7
        ] } });
        let subscriptions = Subscriptions::from_manifest(&manifest).expect("subscribes");
        assert_eq!(subscriptions.endpoint, "https://a.test/hooks");
        assert!(subscriptions.wants("app.installed") && subscriptions.wants("member.added"));
        assert!(subscriptions.wants("webhook.test") && !subscriptions.wants("app.uninstalled"));
        assert!(subscriptions.events["member.added"].is_some());
        for old in [
            json!({ "webhooks": [] }),
            json!({}),
            json!({ "webhooks": { "events": [] } }),
        ] {
            assert_eq!(Subscriptions::from_manifest(&old), None, "{old}");
        }
    }
}
