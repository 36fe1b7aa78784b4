use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, internal};
use nexus_kit::id::to_id;
use nexus_kit::loader::{load, load_children};
use nexus_kit::page::PageArgs;
use nexus_registry::submission::SubmissionError;
use uuid::Uuid;

use crate::entity::app::{self, AppStatus, PricingModel};
use crate::entity::app_version::{self, AppVersionStatus};
use crate::entity::installation::{self, InstallationStatus};

/// identity's `User`, referenced by id (identity resolves it).
#[derive(SimpleObject)]
#[graphql(name = "User", unresolvable = "id")]
pub struct UserRef {
    pub id: ID,
}

impl UserRef {
    fn new(id: Uuid) -> Self {
        UserRef { id: to_id(id) }
    }
}

#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum AppHealthStatus {
    Up,
    Down,
}

/// An app's last health check.
#[derive(SimpleObject)]
pub struct AppHealth {
    pub status: AppHealthStatus,
    pub checked_at: DateTime<Utc>,
    pub latency_ms: i32,
    /// Why it is down; shown to the app's developer and platform admins only (it can name what
    /// answered at the app's address).
    pub detail: Option<String>,
}

/// What an app costs.
#[derive(SimpleObject)]
pub struct AppPricing {
    pub model: PricingModel,
    /// In minor units of `currency` (cents); set for paid and subscription apps.
    pub price_cents: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    pub trial_days: Option<i32>,
    /// One line the store shows beside the model.
    pub summary: Option<String>,
}

/// Where to learn more about an app, as its developer lists them.
#[derive(SimpleObject)]
pub struct AppLinks {
    pub website: Option<String>,
    pub docs: Option<String>,
    pub support: Option<String>,
    pub privacy: Option<String>,
    pub terms: Option<String>,
}

/// An app in the graph; its stored listing is read once, whichever of its fields are asked.
pub struct App(
    pub app::Model,
    std::sync::OnceLock<crate::listing::StoreListing>,
);

impl App {
    pub fn new(model: app::Model) -> Self {
        App(model, std::sync::OnceLock::new())
    }

    fn listing(&self) -> &crate::listing::StoreListing {
        self.1
            .get_or_init(|| crate::listing::StoreListing::stored(&self.0))
    }
}

#[Object]
impl App {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Unique; prefixes every type and field the app adds to the supergraph.
    async fn namespace(&self) -> &str {
        &self.0.namespace
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the app does, in Markdown, as its developer wrote it.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The description rendered for a page: HTML from the Markdown, with raw HTML shown as text
    /// and everything but plain formatting, links and images removed.
    async fn description_html(&self) -> String {
        crate::markdown::to_safe_html(&self.0.description)
    }

    /// One line under the name in the store.
    async fn tagline(&self) -> Option<String> {
        self.listing().tagline.clone()
    }

    /// An https URL of the app's icon.
    async fn icon(&self) -> Option<String> {
        self.listing().icon.clone()
    }

    /// https URLs of images of the app at work, in order.
    async fn screenshots(&self) -> Vec<String> {
        self.listing().screenshots.clone()
    }

    async fn tags(&self) -> Vec<String> {
        self.listing().tags.clone()
    }

    /// The app's main category (the first of `categories`).
    async fn category(&self) -> &str {
        &self.0.category
    }

    /// The store categories the app is filed under, its main one first.
    async fn categories(&self) -> Vec<String> {
        self.listing().categories.clone()
    }

    /// What the app can touch, computed from its live version (its subgraph as the extension
    /// policy let it through, its manifest); null before its first approval.
    async fn access(&self) -> Option<super::access::AppAccess> {
        self.access_now()
    }

    /// What its live version touches that the approved version before it did not.
    async fn access_changes(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<super::access::AppAccessChanges>> {
        let db = ctx.data_unchecked::<sea_orm::DatabaseConnection>();
        match crate::registry::versions::live_version(db, self.0.id).await? {
            Some(version) => super::access::changes_of(ctx, &version).await,
            None => Ok(None),
        }
    }

    async fn links(&self) -> AppLinks {
        let listing = self.listing();
        AppLinks {
            website: listing.website.clone(),
            docs: listing.docs.clone(),
            support: listing.support.clone(),
            privacy: listing.privacy.clone(),
            terms: listing.terms.clone(),
        }
    }

    async fn status(&self) -> AppStatus {
        self.0.status
    }

    async fn pricing(&self) -> AppPricing {
        AppPricing {
            model: self.0.pricing_model,
            price_cents: self.0.price_cents,
            currency: self.0.currency.clone(),
            trial_days: self.0.trial_days,
            summary: self.listing().pricing_summary.clone(),
        }
    }

    /// Null when you may not see the developer's profile.
    async fn developer(&self) -> Option<UserRef> {
        Some(UserRef::new(self.0.developer_id))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The last health check of the app's subgraph; null until it has been checked.
    async fn health(&self, ctx: &Context<'_>) -> Option<AppHealth> {
        let registry = ctx.data_opt::<std::sync::Arc<nexus_registry::Registry>>()?;
        let caller = nexus_kit::auth::caller(ctx);
        let insider = caller.is_platform_admin() || caller.user_id() == Some(self.0.developer_id);
        let map = registry.health.read().ok()?;
        map.get(&self.0.namespace).map(|h| AppHealth {
            status: if h.up {
                AppHealthStatus::Up
            } else {
                AppHealthStatus::Down
            },
            checked_at: h.checked_at,
            latency_ms: h.latency_ms.min(i32::MAX as u64) as i32,
            detail: h.detail.clone().filter(|_| insider),
        })
    }

    /// Submitted versions, oldest first (the app's developer and platform admins).
    async fn versions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, AppVersion>>> {
        let caller = caller(ctx);
        if !caller.is_platform_admin() && caller.user_id() != Some(self.0.developer_id) {
            return Err(Code::Forbidden.error("an app's versions are visible to its developer"));
        }
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<app_version::ByApp>(ctx, self.0.id, args).await?;
        Ok(Some(page.into_connection(|v| v.id, AppVersion)))
    }

    /// The webhook endpoint's state; null until the app has had an event (the app's developer
    /// and platform admins).
    async fn webhook_endpoint(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<super::webhooks::WebhookEndpoint>> {
        super::webhooks::endpoint_of(ctx, self.0.id).await
    }

    /// Events sent to the app, newest first, with every attempt (the app's developer and platform
    /// admins).
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<crate::webhooks::entity::delivery::Status>,
        event_type: Option<String>,
    ) -> Result<Connection<String, super::webhooks::WebhookDelivery>> {
        super::webhooks::deliveries_of(ctx, self.0.id, first, after, status, event_type).await
    }
}

pub struct Installation(pub installation::Model);

#[Object]
impl Installation {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn status(&self) -> InstallationStatus {
        self.0.status
    }

    /// Scopes the organization granted the app.
    async fn granted_scopes(&self) -> Vec<String> {
        self.0.scopes()
    }

    async fn app(&self, ctx: &Context<'_>) -> Result<App> {
        load::<app::Entity>(ctx, self.0.app_id)
            .await?
            .map(App::new)
            .ok_or_else(|| internal(sea_orm::DbErr::RecordNotFound("installation app".into())))
    }

    async fn organization(&self) -> OrganizationInstallations {
        OrganizationInstallations {
            id: self.0.organization_id,
        }
    }

    async fn installed_by(&self) -> Option<UserRef> {
        Some(UserRef::new(self.0.installed_by))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// identity's `Organization`, extended with the apps installed in it.
pub struct OrganizationInstallations {
    pub id: Uuid,
}

#[Object(name = "Organization")]
impl OrganizationInstallations {
    async fn id(&self) -> ID {
        to_id(self.id)
    }

    /// Apps installed in this organization (active or suspended), oldest first. Readable with a
    /// token acting in this organization (see `switchOrganization`).
    async fn installations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, Installation>>> {
        require_installation_reader(ctx, self.id)?;
        let args = PageArgs::parse(first, after)?;
        let page = load_children::<installation::LiveByOrganization>(ctx, self.id, args).await?;
        Ok(Some(page.into_connection(|i| i.id, Installation)))
    }
}

/// The tenant rule of installations: a token acting in their organization (API keys and app
/// tokens need `apps:read`), or a platform admin.
pub fn may_read_installations_of(ctx: &Context<'_>, organization_id: Uuid) -> bool {
    caller(ctx).reads_in(organization_id, INSTALLATIONS_SCOPE)
}

const INSTALLATIONS_SCOPE: &str = "apps:read";

/// `FORBIDDEN`, saying what is missing, unless `may_read_installations_of`.
pub fn require_installation_reader(ctx: &Context<'_>, organization_id: Uuid) -> Result<()> {
    let caller = caller(ctx);
    caller.require()?;
    if may_read_installations_of(ctx, organization_id) {
        Ok(())
    } else if caller.acts_in(organization_id) {
        Err(Code::Forbidden.error(format!(
            "reading installations needs the `{INSTALLATIONS_SCOPE}` scope"
        )))
    } else {
        Err(Code::Forbidden.error(
            "an organization's installations are readable only with a token acting in it: use switchOrganization",
        ))
    }
}

/// Published apps are public; others are visible to their developer and platform admins.
pub fn app_visible(ctx: &Context<'_>, app: &app::Model) -> bool {
    let caller = caller(ctx);
    app.status == AppStatus::Published
        || caller.is_platform_admin()
        || caller.is_service()
        || caller.user_id() == Some(app.developer_id)
}

/// One problem with a submission: which rule (`code`), where, and what to do.
#[derive(SimpleObject, Clone)]
pub struct SubmissionProblem {
    pub code: String,
    pub message: String,
    /// JSON pointer into the manifest, for manifest problems.
    pub path: Option<String>,
    pub subgraph: Option<String>,
    #[graphql(name = "type")]
    pub type_name: Option<String>,
    pub field: Option<String>,
}

impl From<SubmissionError> for SubmissionProblem {
    fn from(e: SubmissionError) -> Self {
        SubmissionProblem {
            code: e.code,
            message: e.message,
            path: e.path,
            subgraph: e.subgraph,
            type_name: e.type_name,
            field: e.field,
        }
    }
}

pub struct AppVersion(pub app_version::Model);

#[Object]
impl AppVersion {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn version(&self) -> &str {
        &self.0.version
    }

    async fn status(&self) -> AppVersionStatus {
        self.0.status
    }

    async fn subgraph_url(&self) -> &str {
        &self.0.subgraph_url
    }

    /// Why the automatic checks rejected it (empty when they passed).
    async fn errors(&self) -> Vec<SubmissionProblem> {
        serde_json::from_value::<Vec<SubmissionError>>(self.0.errors.clone())
            .unwrap_or_default()
            .into_iter()
            .map(SubmissionProblem::from)
            .collect()
    }

    /// The reviewer's reason, for versions rejected in review.
    async fn review_reason(&self) -> Option<&str> {
        self.0.review_reason.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.reviewed_at
    }

    async fn app(&self, ctx: &Context<'_>) -> Result<Option<App>> {
        Ok(load::<app::Entity>(ctx, self.0.app_id).await?.map(App::new))
    }

    /// What this version can touch; null when its subgraph never answered.
    async fn access(&self) -> Option<super::access::AppAccess> {
        self.access_of()
    }

    /// What it touches that the approved version before it did not, and what it drops: what a
    /// reviewer looks at first.
    async fn access_changes(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<super::access::AppAccessChanges>> {
        super::access::changes_of(ctx, &self.0).await
    }
}
