//! The events licensing records in its outbox (`nexus_kit::outbox::emit`, with `crate::name::NAME`) with
//! the change that causes them; payloads as `docs/webhooks.md` documents them.

use nexus_kit::outbox::Event;
use sea_orm::ActiveEnum;
use serde_json::json;

use crate::entity::license;

/// `license.*`: the license as it is now (never its key).
pub fn license(event_type: &'static str, license: &license::Model) -> Event {
    Event::new(
        event_type,
        json!({
            "license_id": license.id,
            "app_id": license.app_id,
            "organization_id": license.organization_id,
            "kind": license.kind.to_value(),
            "status": license.status_at(chrono::Utc::now()).to_value(),
            "expires_at": license.expires_at,
            "max_activations": license.max_activations,
        }),
    )
    .in_organization(license.organization_id)
    .for_app(license.app_id)
}
