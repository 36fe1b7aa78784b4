//! The events identity records in its outbox (`nexus_kit::outbox::emit`, with `crate::name::NAME`) with
//! the change that causes them; payloads as `docs/webhooks.md` documents them.

use nexus_kit::outbox::Event;
use sea_orm::ActiveEnum;
use serde_json::json;

use uuid::Uuid;

use crate::entity::{membership, organization, user};

/// `member.added`, `member.removed`, `member.role_changed`.
pub fn member(event_type: &'static str, membership: &membership::Model) -> Event {
    Event::new(
        event_type,
        json!({
            "membership_id": membership.id,
            "organization_id": membership.organization_id,
            "user_id": membership.user_id,
            "role": membership.role.to_value(),
        }),
    )
    .in_organization(membership.organization_id)
}

/// `organization.created`, `organization.updated`, `organization.deleted`.
pub fn organization(event_type: &'static str, organization: &organization::Model) -> Event {
    Event::new(
        event_type,
        json!({
            "organization_id": organization.id,
            "name": organization.name,
            "slug": organization.slug,
        }),
    )
    .in_organization(organization.id)
}

/// `user.created`, `user.updated`, `user.deleted`, heard in one of the user's organizations
/// (`None`: in none).
pub fn user(event_type: &'static str, user: &user::Model, organization_id: Option<Uuid>) -> Event {
    let event = Event::new(
        event_type,
        json!({
            "user_id": user.id,
            "organization_id": organization_id,
            "email": user.email,
            "name": user.name,
            "avatar_url": user.avatar_url,
        }),
    );
    match organization_id {
        Some(organization) => event.in_organization(organization),
        None => event,
    }
}
