use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::error::{bad_input, internal};
use nexus_kit::id::parse_id;
use nexus_kit::loader::load;
use nexus_kit::page::{PageArgs, fetch_page};
use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};

use super::types::{
    App, Installation, OrganizationInstallations, app_visible, may_read_installations_of,
};
use crate::entity::app::{self, AppStatus};
use crate::entity::installation;
use crate::listing;
use nexus_kit::auth::caller;

#[derive(InputObject, Default)]
pub struct AppFilter {
    /// Any of the categories an app is filed under.
    pub category: Option<String>,
    /// Apps whose live version adds fields to this core type (`Organization`).
    pub extends: Option<String>,
    /// Apps whose live version asks for this scope, required or optional (`users:read`).
    pub scope: Option<String>,
    /// Case-insensitive match on name, namespace or description.
    pub search: Option<String>,
    pub status: Option<AppStatus>,
}

#[derive(Default)]
pub struct Query;

#[Object(name = "AppsQuery")]
impl Query {
    /// An app by `id` or by `namespace` (exactly one); null when there is none.
    async fn app(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        namespace: Option<String>,
    ) -> Result<Option<App>> {
        match (id, namespace) {
            (Some(id), None) => {
                let id = parse_id(&id, "app")?;
                Ok(visible_app(ctx, load::<app::Entity>(ctx, id).await?))
            }
            (None, Some(namespace)) => {
                let db = ctx.data_unchecked::<DatabaseConnection>();
                let app = listing::find_app_by_namespace(db, &namespace).await?;
                Ok(visible_app(ctx, app))
            }
            _ => Err(bad_input("give exactly one of `id` and `namespace`")),
        }
    }

    /// The app store, oldest first, optionally filtered: published apps, plus your own apps and,
    /// for platform admins, every app.
    async fn apps(
        &self,
        ctx: &Context<'_>,
        filter: Option<AppFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, App>> {
        let args = PageArgs::parse(first, after)?;
        let filter = filter.unwrap_or_default();
        let mut condition = Condition::all();
        if let Some(category) = filter.category {
            // Any of the categories it is filed under.
            let filed = sea_orm::sea_query::Query::select()
                .column(crate::entity::app_category::Column::AppId)
                .from(crate::entity::app_category::Entity)
                .and_where(
                    Expr::col(crate::entity::app_category::Column::Category)
                        .eq(category.trim().to_lowercase()),
                )
                .to_owned();
            condition = condition.add(app::Column::Id.in_subquery(filed));
        }
        for (kind, value) in [
            (crate::entity::app_access::EXTENDS, filter.extends),
            (crate::entity::app_access::SCOPE, filter.scope),
        ] {
            let Some(value) = value else { continue };
            let having = sea_orm::sea_query::Query::select()
                .column(crate::entity::app_access::Column::AppId)
                .from(crate::entity::app_access::Entity)
                .and_where(Expr::col(crate::entity::app_access::Column::Kind).eq(kind))
                .and_where(Expr::col(crate::entity::app_access::Column::Value).eq(value.trim()))
                .to_owned();
            condition = condition.add(app::Column::Id.in_subquery(having));
        }
        if let Some(status) = filter.status {
            condition = condition.add(app::Column::Status.eq(status));
        }
        let caller = caller(ctx);
        if !caller.is_platform_admin() {
            let mut visible = Condition::any().add(app::Column::Status.eq(AppStatus::Published));
            if let Some(user) = caller.user_id() {
                visible = visible.add(app::Column::DeveloperId.eq(user));
            }
            condition = condition.add(visible);
        }
        if let Some(search) = filter.search.filter(|s| !s.trim().is_empty()) {
            let escaped = search
                .trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
            let lower = |column: app::Column| Expr::expr(Func::lower(Expr::col(column)));
            condition = condition.add(
                Condition::any()
                    .add(lower(app::Column::Name).like(pattern()))
                    .add(lower(app::Column::Namespace).like(pattern()))
                    .add(lower(app::Column::Description).like(pattern())),
            );
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let page = fetch_page(
            db,
            app::Entity::find().filter(condition),
            app::Column::Id,
            &args,
        )
        .await
        .map_err(internal)?;
        Ok(page.into_connection(|a| a.id, App))
    }

    /// An installation of your current organization by id; null otherwise.
    async fn installation(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Installation>> {
        caller(ctx).require()?;
        let id = parse_id(&id, "installation")?;
        Ok(load::<installation::Entity>(ctx, id)
            .await?
            .filter(|i| may_read_installations_of(ctx, i.organization_id))
            .map(Installation))
    }

    #[graphql(entity)]
    async fn find_app_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<App>> {
        let id = parse_id(&id, "app")?;
        Ok(visible_app(ctx, load::<app::Entity>(ctx, id).await?))
    }

    #[graphql(entity)]
    async fn find_installation_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<Installation>> {
        let id = parse_id(&id, "installation")?;
        Ok(load::<installation::Entity>(ctx, id)
            .await?
            .filter(|i| may_read_installations_of(ctx, i.organization_id))
            .map(Installation))
    }

    #[graphql(entity)]
    async fn find_organization_by_id(&self, id: ID) -> Result<OrganizationInstallations> {
        Ok(OrganizationInstallations {
            id: parse_id(&id, "organization")?,
        })
    }
}

fn visible_app(ctx: &Context<'_>, app: Option<app::Model>) -> Option<App> {
    app.filter(|a| app_visible(ctx, a)).map(App)
}
