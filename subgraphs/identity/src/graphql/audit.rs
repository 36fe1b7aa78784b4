//! Reading the audit log (`nexus_kit::audit`): an organization's owners and admins read its
//! entries, platform administrators read everything. Newest first.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::audit::entity as audit_entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, bad_input, internal};
use nexus_kit::id::parse_id;
use nexus_kit::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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
    let first = match first {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
        Some(n) => {
            return Err(bad_input(format!(
                "`first` must be between 0 and {MAX_PAGE_SIZE}, got {n}"
            )));
        }
    };
    let after = after
        .map(|cursor| {
            uuid::Uuid::parse_str(&cursor).map_err(|_| {
                bad_input(format!(
                    "`after` must be a cursor from this list, got `{cursor}`"
                ))
            })
        })
        .transpose()?;
    // Newest first by id (UUIDv7: when it was appended).
    let mut select = audit_entry::Entity::find().order_by_desc(audit_entry::Column::Id);
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
    if let Some(after) = after {
        select = select.filter(audit_entry::Column::Id.lt(after));
    }
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let mut rows = select.limit(first + 1).all(db).await.map_err(internal)?;
    let has_next = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let mut connection = Connection::new(after.is_some(), has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(row.id.to_string(), AuditEntry(row))),
    );
    Ok(connection)
}
