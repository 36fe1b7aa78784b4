//! The store's own lists, kept by platform admins: the categories apps are filed under, and the
//! apps it features.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::Utc;
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{bad_input, internal, on_conflict};
use nexus_kit::id::parse_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::types::App;
use crate::entity::app::{self, AppStatus};
use crate::entity::{featured_app, store_category};

/// Apps the store may feature at once.
const MAX_FEATURED: usize = 24;

/// The featured apps that are published now, in order.
async fn featured(db: &impl sea_orm::ConnectionTrait) -> Result<Vec<App>> {
    let order = featured_app::Entity::find()
        .order_by_asc(featured_app::Column::Position)
        .all(db)
        .await
        .map_err(internal)?;
    let apps = app::Entity::find()
        .filter(app::Column::Id.is_in(order.iter().map(|f| f.app_id)))
        .filter(app::Column::Status.eq(AppStatus::Published))
        .all(db)
        .await
        .map_err(internal)?;
    Ok(order
        .iter()
        .filter_map(|f| {
            apps.iter()
                .find(|a| a.id == f.app_id)
                .cloned()
                .map(App::new)
        })
        .collect())
}

#[derive(SimpleObject)]
pub struct StoreCategory {
    /// What manifests name (`category`, `listing.categories`).
    pub slug: String,
    /// What people read.
    pub name: String,
}

impl From<store_category::Model> for StoreCategory {
    fn from(c: store_category::Model) -> Self {
        StoreCategory {
            slug: c.slug,
            name: c.name,
        }
    }
}

#[derive(Default)]
pub struct StoreQuery;

#[Object]
impl StoreQuery {
    /// The categories apps may be filed under, by slug.
    async fn store_categories(&self, ctx: &Context<'_>) -> Result<Vec<StoreCategory>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(crate::listing::store_categories(db)
            .await?
            .into_iter()
            .map(StoreCategory::from)
            .collect())
    }

    /// The apps the store features, in the order platform admins set (published ones only).
    async fn featured_apps(&self, ctx: &Context<'_>) -> Result<Vec<App>> {
        featured(ctx.data_unchecked::<DatabaseConnection>()).await
    }
}

#[derive(Default)]
pub struct StoreMutation;

#[Object]
impl StoreMutation {
    /// Sets the apps the store features, in order, replacing the list (platform admins; at most
    /// 24, each published, each once).
    async fn set_featured_apps(&self, ctx: &Context<'_>, app_ids: Vec<ID>) -> Result<Vec<App>> {
        caller(ctx).require_platform_admin()?;
        let admin = caller(ctx).require_user()?;
        if app_ids.len() > MAX_FEATURED {
            return Err(bad_input(format!("at most {MAX_FEATURED} featured apps")));
        }
        let mut ids = Vec::with_capacity(app_ids.len());
        for id in &app_ids {
            let id = parse_id(id, "app")?;
            if ids.contains(&id) {
                return Err(bad_input(format!("the app `{id}` is listed twice")));
            }
            ids.push(id);
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let txn = nexus_kit::db::begin_writing(db).await.map_err(internal)?;
        let published = app::Entity::find()
            .filter(app::Column::Id.is_in(ids.clone()))
            .filter(app::Column::Status.eq(AppStatus::Published))
            .all(&txn)
            .await
            .map_err(internal)?;
        if let Some(missing) = ids
            .iter()
            .find(|id| !published.iter().any(|a| a.id == **id))
        {
            return Err(bad_input(format!(
                "the app `{missing}` is not a published app"
            )));
        }
        featured_app::Entity::delete_many()
            .exec(&txn)
            .await
            .map_err(internal)?;
        let now = Utc::now();
        let rows = ids
            .iter()
            .enumerate()
            .map(|(i, id)| featured_app::ActiveModel {
                app_id: Set(*id),
                position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                featured_by: Set(admin),
                featured_at: Set(now),
            });
        featured_app::Entity::insert_many(rows)
            .on_empty_do_nothing()
            .exec(&txn)
            .await
            .map_err(internal)?;
        let entry = Entry::by(ctx, "store.featured_apps_set")
            .details(serde_json::json!({ "app_ids": ids }));
        nexus_kit::audit::record(&txn, entry).await?;
        let apps = featured(&txn).await?;
        txn.commit().await.map_err(internal)?;
        Ok(apps)
    }

    /// Adds a category to the store's list (platform admins).
    async fn create_store_category(
        &self,
        ctx: &Context<'_>,
        slug: String,
        name: String,
    ) -> Result<StoreCategory> {
        caller(ctx).require_platform_admin()?;
        let slug = slug.trim().to_owned();
        if !nexus_registry::manifest::listing::is_slug(&slug, 64) {
            return Err(bad_input(format!(
                "`{slug}` is not a category slug: 2 to 64 lowercase letters, digits and inner hyphens"
            )));
        }
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(bad_input("the name has 1 to 64 characters"));
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let txn = nexus_kit::db::begin_writing(db).await.map_err(internal)?;
        let created = store_category::ActiveModel {
            slug: Set(slug.clone()),
            name: Set(name),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await
        .map_err(|e| on_conflict(e, || format!("the category `{slug}` exists")))?;
        let entry = Entry::by(ctx, "store_category.created").target("store_category", &slug);
        nexus_kit::audit::record(&txn, entry).await?;
        txn.commit().await.map_err(internal)?;
        Ok(created.into())
    }
}
