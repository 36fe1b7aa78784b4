//! The events licensing records in its outbox (`nexus_kit::outbox`) with the change that causes
//! them; payloads as `docs/webhooks.md` documents them.

use nexus_kit::error::{Result, internal};
use nexus_kit::outbox::{self, Event};
use sea_orm::{ActiveEnum, ConnectionTrait};
use serde_json::json;

use crate::entity::license;

pub async fn record<C: ConnectionTrait>(conn: &C, event: Event) -> Result<()> {
    outbox::record(conn, crate::NAME, event)
        .await
        .map(|_| ())
        .map_err(internal)
}

/// `license.*`: the license as it is now (never its key).
pub fn license(event_type: &'static str, license: &license::Model) -> Event {
    Event::new(
        event_type,
        json!({
            "license_id": license.id,
            "app_id": license.app_id,
            "organization_id": license.organization_id,
            "kind": license.kind.to_value(),
            "status": license.status.to_value(),
            "expires_at": license.expires_at,
            "max_activations": license.max_activations,
        }),
    )
    .in_organization(license.organization_id)
    .for_app(license.app_id)
}
