use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::error::{bad_input, internal};
use nexus_kit::id::parse_id;
use nexus_kit::loader::load;
use nexus_kit::page::PageArgs;
use sea_orm::DatabaseConnection;

use super::types::{
    App, Installation, OrganizationInstallations, app_visible, may_read_installations_of,
};
use crate::entity::app::{self, AppStatus, PricingModel};
use crate::entity::installation;
use crate::listing;
use crate::search;
use nexus_kit::auth::caller;

#[derive(InputObject, Default)]
/// Deprecated: the `apps` arguments of the same names.
pub struct AppFilter {
    /// Any of the categories an app is filed under.
    pub category: Option<String>,
    /// Apps whose live version adds fields to this core type (`Organization`).
    pub extends: Option<String>,
    /// Apps whose live version asks for this scope, required or optional (`users:read`).
    pub scope: Option<String>,
    /// The `query` argument's search (words of the name, tags, tagline and description; it no
    /// longer matches inside a word or the namespace).
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

    /// The app store: published apps, plus your own and, for platform admins, every app. With a
    /// `query`, ranked by relevance (an exact name first; name weighs most, then tags, tagline
    /// and description; a word one letter off still matches); without one, oldest first unless
    /// sorted otherwise. `facets` counts the matching apps by category and pricing.
    #[allow(clippy::too_many_arguments)]
    async fn apps(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        category: Option<String>,
        pricing: Option<PricingModel>,
        extends: Option<String>,
        scope: Option<String>,
        sort: Option<search::Sort>,
        #[graphql(deprecation = "use the arguments `query`, `category`, `extends` and `scope`")]
        filter: Option<AppFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, App, AppConnectionFields>> {
        let first = PageArgs::parse(first, None)?.first;
        let offset = match after {
            Some(cursor) => search_cursor::decode(&cursor)? + 1,
            None => 0,
        };
        let filter = filter.unwrap_or_default();
        let caller = caller(ctx);
        let viewer = if caller.is_platform_admin() {
            search::Viewer::PlatformAdmin
        } else if let Some(user) = caller.user_id() {
            search::Viewer::Developer(user)
        } else {
            search::Viewer::Anyone
        };
        let query = query.or(filter.search).filter(|q| !q.trim().is_empty());
        if query.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(bad_input("a search has at most 200 characters"));
        }
        let request = search::Request {
            query,
            category: category.or(filter.category),
            pricing,
            extends: extends.or(filter.extends),
            scope: scope.or(filter.scope),
            status: filter.status,
            sort: sort.unwrap_or(search::Sort::Relevance),
            viewer,
            matched: Default::default(),
        };
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let vocabulary = ctx.data_unchecked::<search::vocabulary::Vocabulary>();
        let page = request
            .page(db, vocabulary, offset, first)
            .await
            .map_err(internal)?;
        let apps = search::apps_in_order(db, &page.ids)
            .await
            .map_err(internal)?;
        let mut connection = Connection::with_additional_fields(
            page.offset > 0,
            page.has_next,
            AppConnectionFields {
                request: std::sync::Arc::new(request),
                total: page.total,
            },
        );
        connection
            .edges
            .extend(apps.into_iter().enumerate().map(|(i, a)| {
                async_graphql::connection::Edge::new(
                    search_cursor::encode(page.offset + i as u64),
                    App::new(a),
                )
            }));
        Ok(connection)
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
    app.filter(|a| app_visible(ctx, a)).map(App::new)
}

/// What `apps` says beside its page: how many apps match, and how they divide.
pub struct AppConnectionFields {
    request: std::sync::Arc<search::Request>,
    /// Counted with the page already, when it was ranked.
    total: Option<i64>,
}

/// A facet's value and how many matching apps have it.
#[derive(async_graphql::SimpleObject)]
pub struct FacetCount {
    pub name: String,
    pub count: i64,
}

#[derive(async_graphql::SimpleObject)]
pub struct AppFacets {
    /// By category slug (an app counts in each category it is filed under).
    pub categories: Vec<FacetCount>,
    /// By pricing model (`free`, `paid`, `subscription`, `trial`).
    pub pricing: Vec<FacetCount>,
}

#[Object]
impl AppConnectionFields {
    /// How many apps match, on every page.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        if let Some(total) = self.total {
            return Ok(total);
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let vocabulary = ctx.data_unchecked::<search::vocabulary::Vocabulary>();
        self.request.total(db, vocabulary).await.map_err(internal)
    }

    /// The matching apps counted by category and by pricing model.
    async fn facets(&self, ctx: &Context<'_>) -> Result<AppFacets> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let vocabulary = ctx.data_unchecked::<search::vocabulary::Vocabulary>();
        let counts = |found: Vec<search::Count>| {
            found
                .into_iter()
                .map(|c| FacetCount {
                    name: c.name,
                    count: c.count,
                })
                .collect()
        };
        Ok(AppFacets {
            categories: counts(
                self.request
                    .categories(db, vocabulary)
                    .await
                    .map_err(internal)?,
            ),
            pricing: counts(
                self.request
                    .pricing(db, vocabulary)
                    .await
                    .map_err(internal)?,
            ),
        })
    }
}

/// A store page's cursor: the position of an app in the results (opaque to clients).
mod search_cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode(position: u64) -> String {
        URL_SAFE_NO_PAD.encode(format!("store:{position}"))
    }

    pub fn decode(cursor: &str) -> nexus_kit::Result<u64> {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix("store:")?.parse().ok())
            .ok_or_else(|| nexus_kit::error::bad_input("not a cursor of this list"))
    }
}
