use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::Code;
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;

use super::types::{App, Installation};
use crate::entity::app::{AppStatus, PricingModel};
use crate::listing::{self, NewApp, Pricing};

#[derive(InputObject)]
pub struct PricingInput {
    pub model: PricingModel,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub trial_days: Option<i32>,
}

#[derive(InputObject)]
pub struct CreateAppInput {
    /// 2 to 32 lowercase letters and digits; unique across apps.
    pub namespace: String,
    pub name: String,
    #[graphql(default)]
    pub description: String,
    pub category: String,
    /// Platform admins only; apps start as drafts and are published through review.
    #[graphql(default_with = "AppStatus::Draft")]
    pub status: AppStatus,
    pub pricing: Option<PricingInput>,
}

#[derive(InputObject)]
pub struct CreateInstallationInput {
    pub app_id: ID,
    /// The organization your token acts in; you must be its owner or admin.
    pub organization_id: ID,
    /// Default: the app's required scopes.
    pub scopes: Option<Vec<String>>,
}

#[derive(Default)]
pub struct Mutation;

#[Object(name = "AppsMutation")]
impl Mutation {
    /// Creates an app with you as its developer.
    async fn create_app(&self, ctx: &Context<'_>, input: CreateAppInput) -> Result<App> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let caller = caller(ctx);
        let developer_id = caller.require_user()?;
        if input.status != AppStatus::Draft && !caller.is_platform_admin() {
            return Err(Code::Forbidden.error("only platform admins can set an app's status"));
        }
        let pricing = input.pricing.map_or_else(Pricing::free, |p| Pricing {
            model: p.model,
            price_cents: p.price_cents,
            currency: p.currency,
            trial_days: p.trial_days,
            summary: None,
        });
        let new = NewApp {
            namespace: input.namespace,
            name: input.name,
            description: input.description,
            category: input.category,
            developer_id,
            status: input.status,
            pricing,
        };
        listing::create_app(db, new).await.map(App::new)
    }

    /// Installs an app in the organization your token acts in (owners and admins), granting
    /// `scopes` (default: the app's required scopes) from those its manifest declares.
    async fn install_app(
        &self,
        ctx: &Context<'_>,
        app_id: ID,
        scopes: Option<Vec<String>>,
    ) -> Result<Installation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let licensing = ctx.data_unchecked::<nexus_kit::core_client::CoreClient>();
        let (user, organization_id) = org_admin(ctx)?;
        crate::installations::install(
            db,
            licensing,
            parse_id(&app_id, "app")?,
            organization_id,
            user,
            scopes,
            Entry::by(ctx, "installation.created"),
        )
        .await
        .map(Installation)
    }

    /// A new client secret for your app, for `POST /oauth/token` (the old one stops working).
    /// Shown once: store it now. The client id is the app id.
    async fn rotate_app_client_secret(&self, ctx: &Context<'_>, app_id: ID) -> Result<String> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let developer = caller(ctx).require_user()?;
        let app_id = parse_id(&app_id, "app")?;
        let app = nexus_kit::loader::load::<crate::entity::app::Entity>(ctx, app_id).await?;
        if app.is_none_or(|a| a.developer_id != developer) {
            return Err(Code::Forbidden.error("only the app's developer manages its credentials"));
        }
        let audit = Entry::by(ctx, "app.client_secret_rotated").target("app", app_id);
        crate::oauth::client::rotate_secret(db, app_id, audit).await
    }

    /// Uninstalls an app from the organization your token acts in (owners and admins).
    async fn uninstall_app(&self, ctx: &Context<'_>, installation_id: ID) -> Result<Installation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let (_, organization_id) = org_admin(ctx)?;
        crate::installations::uninstall(
            db,
            parse_id(&installation_id, "installation")?,
            organization_id,
            Entry::by(ctx, "installation.removed"),
        )
        .await
        .map(Installation)
    }

    /// Changes the scopes granted to an installed app (owners and admins).
    async fn update_installation_scopes(
        &self,
        ctx: &Context<'_>,
        installation_id: ID,
        scopes: Vec<String>,
    ) -> Result<Installation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let (_, organization_id) = org_admin(ctx)?;
        let id = parse_id(&installation_id, "installation")?;
        let audit = Entry::by(ctx, "installation.scopes_changed");
        crate::installations::update_scopes(db, id, organization_id, scopes, audit)
            .await
            .map(Installation)
    }

    /// `installApp` with its input in one object: the same checks (the organization your token
    /// acts in, owners and admins, scopes the manifest declares, the app's license).
    async fn create_installation(
        &self,
        ctx: &Context<'_>,
        input: CreateInstallationInput,
    ) -> Result<Installation> {
        let (_, organization_id) = org_admin(ctx)?;
        if parse_id(&input.organization_id, "organization")? != organization_id {
            return Err(Code::Forbidden.error(
                "installing apps needs an owner or admin token acting in that organization",
            ));
        }
        self.install_app(ctx, input.app_id, input.scopes).await
    }
}

/// The caller's user id and the organization their token acts in, if they are its owner or admin.
fn org_admin(ctx: &Context<'_>) -> Result<(uuid::Uuid, uuid::Uuid)> {
    let caller = caller(ctx);
    let user = caller.require_user()?;
    let organization = caller
        .principal()
        .and_then(|p| p.organization_id)
        .ok_or_else(|| {
            Code::Forbidden
                .error("this needs a token acting in an organization: use switchOrganization")
        })?;
    if !caller.is_org_admin_of(organization) {
        return Err(
            Code::Forbidden.error("only the organization's owners and admins manage its apps")
        );
    }
    Ok((user, organization))
}
