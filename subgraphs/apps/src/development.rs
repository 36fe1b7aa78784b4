//! What a development platform (`nexus dev`, `nexus app dev`) lets an app's own developer do:
//! send their app any event of the catalogue for one of its installations, as the platform
//! would send it — the payload in the shape `docs/webhooks.md` documents (the installation, the
//! app and its live version as they are; a sample where the event is about something the apps
//! service does not own), recorded, fanned out under the same rules and delivered with the same
//! signatures and retries.

use chrono::Utc;
use nexus_kit::outbox::Event;
use nexus_protocol::events::{Audience, CATALOG};
use serde_json::json;
use uuid::Uuid;

use crate::entity::{app_version, installation};

/// The event `event_type` about `installation`, as the platform would record it; `user` is who
/// asked (the member or user the sample is about). `Err` says why there is none.
pub fn sample_event(
    event_type: &str,
    installation: &installation::Model,
    live_version: Option<&app_version::Model>,
    user: Uuid,
) -> Result<Event, String> {
    let known = CATALOG
        .iter()
        .find(|e| e.name == event_type)
        .ok_or_else(|| format!("`{event_type}` is not an event of the catalogue"))?;
    if known.audience == Audience::Platform {
        return Err(format!(
            "`{event_type}` is the platform's own: no app hears it"
        ));
    }
    let name = known.name;
    let org = installation.organization_id;
    let app = installation.app_id;
    let (family, _) = name.split_once('.').unwrap_or((name, ""));
    let event = match family {
        "app" | "installation" => crate::events::installation(name, installation),
        "app_version" => match live_version {
            Some(version) => crate::events::version(name, version),
            None => return Err("the app has no approved version yet".into()),
        },
        "member" => Event::new(
            name,
            json!({
                "membership_id": Uuid::now_v7(),
                "organization_id": org,
                "user_id": user,
                "role": if name == "member.role_changed" { "admin" } else { "member" },
            }),
        )
        .in_organization(org),
        "organization" => Event::new(
            name,
            json!({ "organization_id": org, "name": "Sample organization", "slug": "sample-organization" }),
        )
        .in_organization(org),
        "user" => {
            // A sign-up belongs to no organization, so no app hears `user.created` yet.
            let in_org = (name != "user.created").then_some(org);
            let event = Event::new(
                name,
                json!({
                    "user_id": user,
                    "organization_id": in_org,
                    "email": "sample.user@example.com",
                    "name": "Sample User",
                    "avatar_url": null,
                }),
            );
            match in_org {
                Some(org) => event.in_organization(org),
                None => event,
            }
        }
        "license" => {
            let status = match name {
                "license.suspended" => "suspended",
                "license.revoked" => "revoked",
                "license.expired" => "expired",
                _ => "active",
            };
            Event::new(
                name,
                json!({
                    "license_id": Uuid::now_v7(),
                    "app_id": app,
                    "organization_id": org,
                    "kind": "subscription",
                    "status": status,
                    "expires_at": Utc::now() + chrono::Duration::days(30),
                    "max_activations": 3,
                }),
            )
            .in_organization(org)
            .for_app(app)
        }
        "webhook" => Event::new(
            name,
            json!({ "app_id": app, "message": "a test event, sent on request" }),
        )
        .for_app(app),
        "webhook_endpoint" => Event::new(
            name,
            json!({ "app_id": app, "reason": "a sample: the endpoint is not disabled", "disabled_at": Utc::now() }),
        )
        .for_app(app),
        _ => return Err(format!("no sample of `{name}` yet")),
    };
    Ok(event)
}

/// Why the app does not hear `event_type` from `installation` (the fan-out planned no
/// delivery), in words the developer can act on.
pub fn why_not_heard(
    event_type: &str,
    installation: &installation::Model,
    live_version: Option<&app_version::Model>,
    endpoint_disabled: bool,
) -> String {
    let subscribed = live_version
        .and_then(|v| crate::webhooks::subscriptions::Subscriptions::from_manifest(&v.manifest));
    match (subscribed, nexus_protocol::events::find(event_type)) {
        (None, _) => "the app's live version names no webhook endpoint".into(),
        _ if endpoint_disabled => {
            "the app's webhook endpoint is disabled: enable it (enableWebhookEndpoint)".into()
        }
        (Some(s), _) if !s.wants(event_type) => format!(
            "the app's live version does not subscribe to `{event_type}`: add it to webhooks.events in manifest.json"
        ),
        (_, Some(kind)) => match kind.audience {
            Audience::Granted(scope) if !installation.scopes().iter().any(|s| s == scope) => {
                format!("the installation is not granted `{scope}`, which `{event_type}` needs")
            }
            _ if event_type == "user.created" => {
                "no app hears `user.created` yet: a sign-up belongs to no organization".into()
            }
            _ => format!("the app would not hear `{event_type}` from this installation"),
        },
        (_, None) => format!("`{event_type}` is not an event of the catalogue"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event an app can hear has a sample.
    #[test]
    fn every_event_an_app_hears_has_a_sample() {
        let installation = installation::Model {
            id: Uuid::now_v7(),
            app_id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            installed_by: Uuid::now_v7(),
            status: installation::InstallationStatus::Active,
            granted_scopes: json!(["users:read"]),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        for event in CATALOG {
            let sample = sample_event(event.name, &installation, None, Uuid::now_v7());
            match (event.audience, event.name.starts_with("app_version.")) {
                (Audience::Platform, _) => assert!(sample.is_err(), "{}", event.name),
                (_, true) => assert_eq!(
                    sample.err().as_deref(),
                    Some("the app has no approved version yet")
                ),
                _ => assert!(sample.is_ok(), "{}: {:?}", event.name, sample.err()),
            }
        }
        assert!(sample_event("made.up", &installation, None, Uuid::now_v7()).is_err());
    }
}
