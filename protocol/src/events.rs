//! The events apps can subscribe to (`webhooks.events` in the manifest), and who may hear each:
//! an event about an organization reaches an app installed there whose granted scopes cover its
//! data; an event about the app itself (its installations, versions and licenses) reaches that
//! app whatever it was granted.

/// Who may receive an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Apps installed (active) in the event's organization, granted this scope.
    Granted(&'static str),
    /// The app the event is about.
    TheApp,
    /// No app: the platform's own services act on it (an app can neither subscribe to it nor
    /// receive it).
    Platform,
}

pub struct EventType {
    pub name: &'static str,
    pub audience: Audience,
    pub description: &'static str,
}

const fn event(name: &'static str, audience: Audience, description: &'static str) -> EventType {
    EventType {
        name,
        audience,
        description,
    }
}

use Audience::{Granted, Platform, TheApp};

pub const CATALOG: &[EventType] = &[
    event(
        "user.created",
        Granted("users:read"),
        "an account was created into the organization (a plain sign-up belongs to none, so no app hears it)",
    ),
    event(
        "user.updated",
        Granted("users:read"),
        "a member changed their name or picture",
    ),
    event(
        "user.deleted",
        Granted("users:read"),
        "a member deleted their account",
    ),
    event(
        "organization.created",
        Granted("organizations:read"),
        "an organization was created",
    ),
    event(
        "organization.updated",
        Granted("organizations:read"),
        "the organization was renamed or its slug changed",
    ),
    event(
        "organization.deleted",
        Granted("organizations:read"),
        "the organization was deleted",
    ),
    event(
        "member.added",
        Granted("organizations:read"),
        "a user joined the organization",
    ),
    event(
        "member.removed",
        Granted("organizations:read"),
        "a member left or was removed",
    ),
    event(
        "member.role_changed",
        Granted("organizations:read"),
        "a member's role changed",
    ),
    event("app.installed", TheApp, "an organization installed the app"),
    event(
        "app.uninstalled",
        TheApp,
        "an organization uninstalled the app",
    ),
    event(
        "installation.scopes_updated",
        TheApp,
        "the scopes granted to the app changed",
    ),
    event(
        "installation.suspended",
        TheApp,
        "the installation was suspended (e.g. its license lapsed)",
    ),
    event(
        "installation.resumed",
        TheApp,
        "a suspended installation is active again",
    ),
    event(
        "license.issued",
        TheApp,
        "a license for the app was issued to the organization",
    ),
    event("license.suspended", TheApp, "the license was suspended"),
    event(
        "license.reinstated",
        TheApp,
        "a suspended license is active again",
    ),
    event(
        "license.revoked",
        TheApp,
        "the license was revoked for good",
    ),
    event("license.renewed", TheApp, "the license's expiry moved"),
    event("license.expired", TheApp, "the license reached its expiry"),
    event(
        "app_version.approved",
        TheApp,
        "a version of the app was approved and is live",
    ),
    event(
        "app_version.rejected",
        TheApp,
        "a version of the app was rejected",
    ),
    event(
        "webhook.test",
        TheApp,
        "sent on request (`sendTestWebhook`), to try the endpoint",
    ),
    event(
        "webhook_endpoint.disabled",
        TheApp,
        "the app's endpoint was disabled (410 Gone, or days of failures); sent once it is enabled again",
    ),
    event(
        USER_SESSIONS_ENDED,
        Platform,
        "every session of an account ended (its password was reset or changed, or two-factor sign-in turned on): the apps service revokes the OAuth grants signed in before",
    ),
];

/// identity's word to the apps service that an account's sessions before `session_epoch` ended.
pub const USER_SESSIONS_ENDED: &str = "user.sessions_ended";

/// Sent to every app with an endpoint, subscribed or not (never listed in a manifest): the
/// platform's own messages about the endpoint.
pub const ALWAYS_SENT: [&str; 2] = ["webhook.test", ENDPOINT_DISABLED];

/// The notice that an app's endpoint was disabled: the one event that waits for a disabled
/// endpoint (others are missed, and replayed on request).
pub const ENDPOINT_DISABLED: &str = "webhook_endpoint.disabled";

/// An event a manifest may list.
pub fn subscribable(name: &str) -> bool {
    find(name).is_some_and(|e| e.audience != Platform) && !ALWAYS_SENT.contains(&name)
}

pub fn find(name: &str) -> Option<&'static EventType> {
    CATALOG.iter().find(|e| e.name == name)
}
