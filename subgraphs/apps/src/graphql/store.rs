//! The store's own lists: the categories apps are filed under, kept by platform admins.

use async_graphql::{Context, Object, SimpleObject};
use chrono::Utc;
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{bad_input, internal, on_conflict};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};

use crate::entity::store_category;

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
}

#[derive(Default)]
pub struct StoreMutation;

#[Object]
impl StoreMutation {
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
