//! Reading the audit log (`nexus_kit::audit`): an organization's owners and admins read its
//! entries, platform administrators read everything. Newest first.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::audit::entity as audit_entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, bad_input, internal};
use nexus_kit::id::parse_id;
use nexus_kit::page::{PageArgs, fetch_page_newest_first};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::entity::membership::Role;
use crate::tenancy::tenancy;

/// Narrows `auditLog`; every field given must match.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// Entries of this organization. Required unless you are a platform administrator.
    pub organization_id: Option<ID>,
    /// Who acted: a user's, API key's or app's id.
    pub actor_id: Option<String>,
    /// One action, e.g. `user.signed_in`, `api_key.created`.
    pub action: Option<String>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

/// One thing that happened.
pub struct AuditEntry(audit_entry::Model);

#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Its position in the hash chain (1, 2, 3, …); null for the second before it is sealed.
    async fn position(&self) -> Option<String> {
        self.0.seq.map(|s| s.to_string())
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// What happened, e.g. `user.signed_in`, `member.role_changed`, `installation.created`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// `user`, `api_key`, `app`, `service`, `anonymous` or `operator` (the `nexus` command).
    async fn actor_type(&self) -> &str {
        &self.0.actor_type
    }

    async fn actor_id(&self) -> Option<&str> {
        self.0.actor_id.as_deref()
    }

    async fn organization_id(&self) -> Option<ID> {
        self.0.organization_id.map(|o| ID(o.to_string()))
    }

    /// What it was done to: `user`, `membership`, `invitation`, `api_key`, `installation`, …
    async fn target_type(&self) -> Option<&str> {
        self.0.target_type.as_deref()
    }

    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }

    /// The client's address.
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }

    /// What the action's entry says besides (roles, scopes, names; never secrets).
    async fn details(&self) -> Json<serde_json::Value> {
        Json(serde_json::from_str(&self.0.details).unwrap_or_default())
    }

    /// SHA-256 of this entry and the one before it (`nexus audit verify` checks the chain); null
    /// until sealed.
    async fn hash(&self) -> Option<&str> {
        self.0.hash.as_deref()
    }
}

pub async fn audit_log(
    ctx: &Context<'_>,
    filter: AuditLogFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, AuditEntry>> {
    caller(ctx).require_user()?;
    let organization = filter
        .organization_id
        .as_ref()
        .map(|id| parse_id(id, "organization"))
        .transpose()?;
    match organization {
        _ if caller(ctx).is_platform_admin() => {}
        Some(org) => {
            tenancy(ctx).require_allowed_in(org).await?;
            let role = tenancy(ctx).organizations().await?.get(&org).copied();
            if !matches!(role, Some(Role::Owner | Role::Admin)) {
                return Err(Code::Forbidden
                    .error("only the organization's owners and admins can read its audit log"));
            }
        }
        None => {
            return Err(bad_input(
                "give `filter.organizationId`: only platform administrators read the whole log",
            ));
        }
    }
    let page = PageArgs::parse(first, after)?;
    let mut select = audit_entry::Entity::find();
    if let Some(org) = organization {
        select = select.filter(audit_entry::Column::OrganizationId.eq(org));
    }
    if let Some(actor) = filter.actor_id {
        select = select.filter(audit_entry::Column::ActorId.eq(actor));
    }
    if let Some(action) = filter.action {
        select = select.filter(audit_entry::Column::Action.eq(action));
    }
    if let Some(since) = filter.since {
        select = select.filter(audit_entry::Column::OccurredAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(audit_entry::Column::OccurredAt.lt(until));
    }
    // Newest first by id (UUIDv7: when it was appended).
    let db = ctx.data_unchecked::<DatabaseConnection>();
    Ok(
        fetch_page_newest_first(db, select, audit_entry::Column::Id, &page)
            .await
            .map_err(internal)?
            .into_connection(|row| row.id, AuditEntry),
    )
}
