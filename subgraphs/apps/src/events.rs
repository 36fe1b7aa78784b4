//! The events the apps service records in its outbox (`nexus_kit::outbox`), and their payloads
//! as `docs/webhooks.md` documents them.

use nexus_kit::outbox::Event;
use sea_orm::ActiveEnum;
use serde_json::json;

use crate::entity::{app_version, installation};

/// `app.installed`, `app.uninstalled`, `installation.*`: the installation as it is now.
pub fn installation(event_type: &'static str, installation: &installation::Model) -> Event {
    Event::new(
        event_type,
        json!({
            "installation_id": installation.id,
            "app_id": installation.app_id,
            "organization_id": installation.organization_id,
            "status": installation.status.to_value(),
            "scopes": installation.scopes(),
        }),
    )
    .in_organization(installation.organization_id)
    .for_app(installation.app_id)
}

/// `app_version.approved`, `app_version.rejected`.
pub fn version(event_type: &'static str, version: &app_version::Model) -> Event {
    Event::new(
        event_type,
        json!({
            "app_version_id": version.id,
            "app_id": version.app_id,
            "version": version.version,
            "status": version.status.to_value(),
            "reason": version.review_reason,
        }),
    )
    .for_app(version.app_id)
}
