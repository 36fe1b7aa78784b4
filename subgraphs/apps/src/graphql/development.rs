//! A development platform in the graph (`nexus dev`, `nexus app dev`): whether this is one, and
//! what it lets an app's own developer do that a reviewer or a real change otherwise does.
//! Everywhere else these mutations answer `DEVELOPMENT_ONLY` and change nothing.

use async_graphql::{Context, ID, Object};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal, not_found};
use nexus_kit::id::parse_id;
use nexus_kit::loader::load;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::types::AppVersion;
use super::versions::{ApproveAppVersionPayload, SupergraphVersion};
use super::webhooks::{WebhookDelivery, require_manager};
use crate::Development;
use crate::entity::app_version;
use crate::entity::{app, installation};
use crate::registry::publisher::Publisher;
use crate::registry::versions;

fn require_development(ctx: &Context<'_>) -> Result<()> {
    match ctx.data_opt::<Development>() {
        Some(Development(true)) => Ok(()),
        _ => Err(Code::DevelopmentOnly.error(
            "only a development platform (`nexus dev`) does this; here a platform admin reviews versions and events come from real changes",
        )),
    }
}

#[derive(Default)]
pub struct DevelopmentQuery;

#[Object]
impl DevelopmentQuery {
    /// Whether this is a development platform (`nexus dev`): `nexus app dev --platform` works
    /// only with one, and changes nothing elsewhere.
    async fn development_platform(&self, ctx: &Context<'_>) -> bool {
        matches!(ctx.data_opt::<Development>(), Some(Development(true)))
    }
}

#[derive(Default)]
pub struct DevelopmentMutation;

#[Object]
impl DevelopmentMutation {
    /// Approves a version of one's own app in review, under every check review runs (the
    /// submission's and composition's), and publishes it. Development platforms only.
    async fn approve_own_app_version(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<ApproveAppVersionPayload> {
        require_development(ctx)?;
        let user = caller(ctx).require_user()?;
        let id = parse_id(&id, "app version")?;
        let version = load::<app_version::Entity>(ctx, id)
            .await?
            .ok_or_else(|| not_found(format!("no app version `{id}`")))?;
        let owner = load::<app::Entity>(ctx, version.app_id).await?;
        if owner.is_none_or(|a| a.developer_id != user) {
            return Err(Code::Forbidden.error("only the app's own developer approves it here"));
        }
        let audit = Entry::by(ctx, "app_version.approved")
            .details(serde_json::json!({ "development": true }));
        let publisher = ctx.data_unchecked::<std::sync::Arc<Publisher>>();
        let (version, head) = versions::approve(publisher, user, id, audit).await?;
        Ok(ApproveAppVersionPayload {
            app_version: AppVersion(version),
            supergraph_version: SupergraphVersion(head),
        })
    }

    /// Sends the installation's app the event `eventType` of the catalogue now, as the platform
    /// would (payload shape, fan-out rules, signatures, retries): the installation and the app
    /// as they are, a sample for what the apps service does not own. Refused when the app would
    /// not hear it (not subscribed, scope not granted). The app's developer, on a development
    /// platform only.
    async fn trigger_webhook(
        &self,
        ctx: &Context<'_>,
        installation_id: ID,
        event_type: String,
    ) -> Result<WebhookDelivery> {
        require_development(ctx)?;
        let user = caller(ctx).require_user()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let id = parse_id(&installation_id, "installation")?;
        let installation = installation::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no installation `{id}`")))?;
        require_manager(ctx, installation.app_id).await?;
        let live = crate::registry::versions::live_version(db, installation.app_id).await?;
        let event =
            crate::development::sample_event(&event_type, &installation, live.as_ref(), user)
                .map_err(|why| Code::BadUserInput.error(why))?;
        let sent = crate::webhooks::operations::send_to_app(db, event, installation.app_id)
            .await
            .map_err(internal)?;
        let Some(model) = sent else {
            let endpoint =
                crate::webhooks::entity::endpoint::Entity::find_by_id(installation.app_id)
                    .one(db)
                    .await
                    .map_err(internal)?;
            let disabled = endpoint.is_some_and(|e| e.disabled_at.is_some());
            return Err(Code::Conflict.error(crate::development::why_not_heard(
                &event_type,
                &installation,
                live.as_ref(),
                disabled,
            )));
        };
        Ok(WebhookDelivery {
            model,
            attempts: Vec::new(),
        })
    }
}
