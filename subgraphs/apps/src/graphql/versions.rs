//! App versions, review and supergraph versions in the graph.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::internal;
use nexus_kit::id::{parse_id, to_id};
use nexus_kit::loader::load;
use nexus_kit::page::{PageArgs, fetch_page};
use nexus_registry::Registry;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::types::{App, AppVersion, SubmissionProblem};
use crate::entity::app;
use crate::entity::app_version;
use crate::entity::supergraph_version;
use crate::registry::live_set::ComposedSubgraph;
use crate::registry::publisher::Publisher;
use crate::registry::versions;

#[derive(SimpleObject)]
pub struct SupergraphSubgraph {
    pub name: String,
    pub url: String,
}

pub struct SupergraphVersion(pub supergraph_version::Model);

#[Object]
impl SupergraphVersion {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn sha256(&self) -> &str {
        &self.0.sha256
    }

    async fn reason(&self) -> &str {
        &self.0.reason
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn subgraphs(&self) -> Vec<SupergraphSubgraph> {
        serde_json::from_value::<Vec<ComposedSubgraph>>(self.0.subgraphs.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|s| SupergraphSubgraph {
                name: s.name,
                url: s.url,
            })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct SubmitAppVersionPayload {
    /// Null when the manifest itself was invalid (see `errors`).
    pub app_version: Option<AppVersion>,
    pub errors: Vec<SubmissionProblem>,
}

#[derive(SimpleObject)]
pub struct ApproveAppVersionPayload {
    pub app_version: AppVersion,
    pub supergraph_version: SupergraphVersion,
}

fn registry<'a>(ctx: &Context<'a>) -> &'a Arc<Registry> {
    ctx.data_unchecked::<Arc<Registry>>()
}

fn publisher<'a>(ctx: &Context<'a>) -> &'a Arc<Publisher> {
    ctx.data_unchecked::<Arc<Publisher>>()
}

#[derive(Default)]
pub struct VersionQuery;

#[Object]
impl VersionQuery {
    /// Published supergraphs, newest first is the head (platform admins).
    async fn supergraph_versions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, SupergraphVersion>> {
        caller(ctx).require_platform_admin()?;
        let args = PageArgs::parse(first, after)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let page = fetch_page(
            db,
            supergraph_version::Entity::find(),
            supergraph_version::Column::Id,
            &args,
        )
        .await
        .map_err(internal)?;
        Ok(page.into_connection(|v| v.id, SupergraphVersion))
    }

    /// An app version, for its developer and platform admins.
    async fn app_version(&self, ctx: &Context<'_>, id: ID) -> Result<Option<AppVersion>> {
        let id = parse_id(&id, "app version")?;
        let Some(version) = load::<app_version::Entity>(ctx, id).await? else {
            return Ok(None);
        };
        let app = load::<app::Entity>(ctx, version.app_id).await?;
        let caller = caller(ctx);
        let allowed = caller.is_platform_admin()
            || app.is_some_and(|a| caller.user_id() == Some(a.developer_id));
        Ok(allowed.then_some(AppVersion(version)))
    }
}

#[derive(Default)]
pub struct VersionMutation;

#[Object]
impl VersionMutation {
    /// Submits an app version: the manifest is validated, the SDL fetched from
    /// `graphql.subgraph_url`, checked against the extension policy and composed with the core
    /// and the live apps. The version is IN_REVIEW, or REJECTED with every problem in `errors`.
    async fn submit_app_version(
        &self,
        ctx: &Context<'_>,
        manifest: Json<serde_json::Value>,
    ) -> Result<SubmitAppVersionPayload> {
        let developer = caller(ctx).require_user()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let submitted = versions::submit(db, registry(ctx), developer, &manifest.0).await?;
        Ok(SubmitAppVersionPayload {
            app_version: submitted.version.map(AppVersion),
            errors: submitted
                .errors
                .into_iter()
                .map(SubmissionProblem::from)
                .collect(),
        })
    }

    /// Approves a version in review and publishes the new supergraph (platform admins).
    async fn approve_app_version(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<ApproveAppVersionPayload> {
        caller(ctx).require_platform_admin()?;
        let admin = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "app_version.approved");
        let (version, head) =
            versions::approve(publisher(ctx), admin, parse_id(&id, "app version")?, audit).await?;
        Ok(ApproveAppVersionPayload {
            app_version: AppVersion(version),
            supergraph_version: SupergraphVersion(head),
        })
    }

    /// Rejects a version in review, saying why (platform admins).
    async fn reject_app_version(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> Result<AppVersion> {
        caller(ctx).require_platform_admin()?;
        let admin = caller(ctx).require_user()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let audit = Entry::by(ctx, "app_version.rejected");
        versions::reject(db, admin, parse_id(&id, "app version")?, reason, audit)
            .await
            .map(AppVersion)
    }

    /// Suspends an app and publishes a supergraph without it (platform admins).
    async fn suspend_app(&self, ctx: &Context<'_>, app_id: ID) -> Result<App> {
        caller(ctx).require_platform_admin()?;
        let admin = caller(ctx).require_user()?;
        let audit = Entry::by(ctx, "app.suspended");
        let (app, _) =
            versions::suspend(publisher(ctx), admin, parse_id(&app_id, "app")?, audit).await?;
        Ok(App::new(app))
    }

    /// Publishes an older supergraph version's apps again as the new head (platform admins).
    async fn rollback_supergraph(&self, ctx: &Context<'_>, id: ID) -> Result<SupergraphVersion> {
        caller(ctx).require_platform_admin()?;
        let admin = caller(ctx).require_user()?;
        versions::rollback(
            publisher(ctx),
            admin,
            parse_id(&id, "supergraph version")?,
            Entry::by(ctx, "supergraph.rolled_back"),
        )
        .await
        .map(SupergraphVersion)
    }
}
