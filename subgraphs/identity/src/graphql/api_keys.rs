//! An organization's API keys.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::Code;
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;

use super::types::ApiKey;
use crate::accounts::api_keys;
use crate::entity::membership::Role;
use crate::tenancy::tenancy;

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub organization_id: ID,
    pub name: String,
    /// From the platform's scope catalog (`users:read`, `organizations:read`, …).
    #[graphql(default)]
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// The key itself, for the `X-Api-Key` header. Shown once: store it now.
    pub secret: String,
}

async fn require_org_admin(ctx: &Context<'_>, organization_id: uuid::Uuid) -> Result<()> {
    let role = tenancy(ctx)
        .organizations()
        .await?
        .get(&organization_id)
        .copied();
    if matches!(role, Some(Role::Owner | Role::Admin)) {
        Ok(())
    } else {
        Err(Code::Forbidden
            .error("only the organization's owners and admins can manage its API keys"))
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key for server-to-server calls (owners and admins). The secret is shown once.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<CreatedApiKey> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let actor = caller(ctx).require_user()?;
        let organization_id = parse_id(&input.organization_id, "organization")?;
        tenancy(ctx).require_allowed_in(organization_id).await?;
        require_org_admin(ctx, organization_id).await?;
        let created = api_keys::create(
            db,
            organization_id,
            actor,
            &input.name,
            input.scopes,
            input.expires_at,
            Entry::by(ctx, "api_key.created"),
        )
        .await?;
        Ok(CreatedApiKey {
            api_key: ApiKey(created.key),
            secret: created.secret,
        })
    }

    /// Revokes an API key; the router stops accepting it within 5 seconds.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        id: ID,
    ) -> Result<ApiKey> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        caller(ctx).require_user()?;
        let organization_id = parse_id(&organization_id, "organization")?;
        tenancy(ctx).require_allowed_in(organization_id).await?;
        require_org_admin(ctx, organization_id).await?;
        let id = parse_id(&id, "API key")?;
        api_keys::revoke(db, organization_id, id, Entry::by(ctx, "api_key.revoked"))
            .await
            .map(ApiKey)
    }
}
