//! An app's listing, the `apps` row: its namespace, name, description, category, pricing and
//! status (draft, published, suspended), how the store shows it (`listing`: tagline, icon,
//! screenshots, tags, URLs, pricing summary) and the categories it is filed under
//! (`app_categories`). This module is its only writer: created directly (the seed) or by a
//! developer's first submission, its fields taken from each approved manifest, suspended by an
//! admin. Its fields follow the manifest's rules (`nexus_registry::manifest`), whichever way they
//! are set; its categories are from the platform's list (`store_categories`).

use chrono::Utc;
use nexus_kit::error::{Result, bad_input, internal, on_conflict};
use nexus_kit::id::new_id;
use nexus_registry::manifest::Manifest;
use nexus_registry::submission::SubmissionError;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::app::{self, AppStatus};
use crate::entity::{app_access, app_category, store_category};
use nexus_registry::access::Access;

/// How the store shows an app (`apps.listing`), as its approved manifest says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreListing {
    pub tagline: Option<String>,
    pub icon: Option<String>,
    pub screenshots: Vec<String>,
    pub tags: Vec<String>,
    /// The categories it is filed under, main one first (as `app_categories` has them).
    pub categories: Vec<String>,
    pub website: Option<String>,
    pub docs: Option<String>,
    pub support: Option<String>,
    pub privacy: Option<String>,
    pub terms: Option<String>,
    pub pricing_summary: Option<String>,
}

impl StoreListing {
    pub fn of(manifest: &Manifest) -> StoreListing {
        let listing = &manifest.listing;
        StoreListing {
            tagline: listing.tagline.as_ref().map(|t| t.trim().to_owned()),
            icon: listing.icon.clone(),
            screenshots: listing.screenshots.clone(),
            tags: listing.tags.clone(),
            categories: nexus_registry::manifest::listing::categories(manifest),
            website: manifest.urls.app.clone(),
            docs: manifest.urls.docs.clone(),
            support: manifest.urls.support.clone(),
            privacy: manifest.urls.privacy.clone(),
            terms: manifest.urls.terms.clone(),
            pricing_summary: manifest.pricing.summary.clone(),
        }
    }

    /// The app's listing as stored (an app created without a manifest has none yet).
    pub fn stored(app: &app::Model) -> StoreListing {
        let mut listing: StoreListing = app
            .listing
            .clone()
            .and_then(|l| serde_json::from_value(l).ok())
            .unwrap_or_default();
        if listing.categories.is_empty() {
            listing.categories = vec![app.category.clone()];
        }
        listing
    }

    fn to_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
}

/// The manifest's categories that are not on the platform's list, each as a problem at its
/// JSON path.
pub async fn unknown_categories(
    db: &DatabaseConnection,
    manifest: &Manifest,
) -> Result<Vec<SubmissionError>> {
    let known = category_slugs(db).await?;
    let named = std::iter::once(("/category".to_owned(), &manifest.category)).chain(
        manifest
            .listing
            .categories
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("/listing/categories/{i}"), c)),
    );
    Ok(named
        .filter(|(_, c)| !known.contains(&c.trim().to_lowercase()))
        .map(|(path, category)| SubmissionError {
            code: "MANIFEST_CATEGORY".into(),
            message: format!(
                "`{category}` is not a store category; the platform's are {}",
                known.join(", ")
            ),
            path: Some(path),
            subgraph: None,
            type_name: None,
            field: None,
        })
        .collect())
}

/// The platform's store categories, by slug.
pub async fn store_categories(db: &impl ConnectionTrait) -> Result<Vec<store_category::Model>> {
    store_category::Entity::find()
        .order_by_asc(store_category::Column::Slug)
        .all(db)
        .await
        .map_err(internal)
}

/// The platform's category slugs, in order.
pub async fn category_slugs(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    Ok(store_categories(db)
        .await?
        .into_iter()
        .map(|c| c.slug)
        .collect())
}

/// Records what the app's live version can touch: on the row, and as facts the store filters by.
async fn record_access(db: &impl ConnectionTrait, app_id: Uuid, access: &Access) -> Result<()> {
    app::Entity::update_many()
        .col_expr(
            app::Column::Access,
            sea_orm::sea_query::Expr::value(serde_json::to_value(access).ok()),
        )
        .filter(app::Column::Id.eq(app_id))
        .exec(db)
        .await
        .map_err(internal)?;
    app_access::Entity::delete_many()
        .filter(app_access::Column::AppId.eq(app_id))
        .exec(db)
        .await
        .map_err(internal)?;
    let facts = access
        .extends
        .keys()
        .map(|t| (app_access::EXTENDS, t.clone()))
        .chain(access.scopes().into_iter().map(|s| (app_access::SCOPE, s)))
        .map(|(kind, value)| app_access::ActiveModel {
            app_id: Set(app_id),
            kind: Set(kind.to_owned()),
            value: Set(value),
        });
    app_access::Entity::insert_many(facts)
        .on_empty_do_nothing()
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}

/// What an app's live version can touch, as stored; none before its first approval.
pub fn stored_access(app: &app::Model) -> Option<Access> {
    serde_json::from_value(app.access.clone()?).ok()
}

/// What a version can touch: from its manifest and the SDL it was checked with.
pub fn version_access(version: &crate::entity::app_version::Model) -> Option<Access> {
    let manifest: Manifest = serde_json::from_value(version.manifest.clone()).ok()?;
    Some(Access::of(&manifest, version.sdl.as_deref()?))
}

/// The approved version `version` follows (the one live before it), if any.
pub async fn previous_approved(
    db: &impl ConnectionTrait,
    version: &crate::entity::app_version::Model,
) -> Result<Option<crate::entity::app_version::Model>> {
    use crate::entity::app_version::{self, AppVersionStatus};
    app_version::Entity::find()
        .filter(app_version::Column::AppId.eq(version.app_id))
        .filter(app_version::Column::Id.ne(version.id))
        .filter(
            app_version::Column::Status
                .is_in([AppVersionStatus::Approved, AppVersionStatus::Superseded]),
        )
        .filter(app_version::Column::CreatedAt.lte(version.created_at))
        .order_by_desc(app_version::Column::CreatedAt)
        .one(db)
        .await
        .map_err(internal)
}

/// Apps live since before access was recorded get theirs from their live version (at start).
pub async fn backfill_access(db: &DatabaseConnection) -> Result<usize> {
    use crate::entity::app_version::{self, AppVersionStatus};
    // One statement, however many apps were never approved: the live versions of apps with no
    // access recorded.
    let unrecorded = sea_orm::sea_query::Query::select()
        .column(app::Column::Id)
        .from(app::Entity)
        .and_where(sea_orm::sea_query::Expr::col(app::Column::Access).is_null())
        .to_owned();
    let live = app_version::Entity::find()
        .filter(app_version::Column::Status.eq(AppVersionStatus::Approved))
        .filter(app_version::Column::AppId.in_subquery(unrecorded))
        .all(db)
        .await
        .map_err(internal)?;
    let mut filled = 0;
    for version in &live {
        if let Some(access) = version_access(version) {
            record_access(db, version.app_id, &access).await?;
            filled += 1;
        }
    }
    Ok(filled)
}

/// Files `app_id` under `categories` (the first is its main one), replacing what it had.
async fn file_under(db: &impl ConnectionTrait, app_id: Uuid, categories: &[String]) -> Result<()> {
    app_category::Entity::delete_many()
        .filter(app_category::Column::AppId.eq(app_id))
        .exec(db)
        .await
        .map_err(internal)?;
    let rows = categories
        .iter()
        .enumerate()
        .map(|(i, category)| app_category::ActiveModel {
            app_id: Set(app_id),
            category: Set(category.clone()),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
        });
    app_category::Entity::insert_many(rows)
        .on_empty_do_nothing()
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}

/// The manifest's namespace rule, as a GraphQL error.
pub fn validate_namespace(namespace: &str) -> Result<()> {
    nexus_registry::manifest::check_namespace(namespace).map_err(bad_input)
}

/// The manifest's pricing, validated by the manifest's rules wherever it is set.
pub use nexus_registry::manifest::Pricing;

pub struct NewApp {
    pub namespace: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub developer_id: Uuid,
    pub status: AppStatus,
    pub pricing: Pricing,
}

pub async fn create_app(db: &DatabaseConnection, new: NewApp) -> Result<app::Model> {
    nexus_registry::manifest::check_listing(&new.namespace, &new.name, &new.category, &new.pricing)
        .map_err(bad_input)?;
    let name = new.name.trim();
    let category = new.category.trim().to_lowercase();
    let known = category_slugs(db).await?;
    if !known.contains(&category) {
        return Err(bad_input(format!(
            "`{category}` is not a store category; the platform's are {}",
            known.join(", ")
        )));
    }
    let now = Utc::now();
    let namespace = new.namespace;
    let category_of_new = category.clone();
    let created = app::ActiveModel {
        id: Set(new_id()),
        namespace: Set(namespace.clone()),
        name: Set(name.to_owned()),
        description: Set(new.description),
        category: Set(category.clone()),
        developer_id: Set(new.developer_id),
        status: Set(new.status),
        pricing_model: Set(new.pricing.model),
        price_cents: Set(new.pricing.price_cents),
        currency: Set(new.pricing.currency),
        trial_days: Set(new.pricing.trial_days),
        listing: Set(None),
        access: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert(db, created, &[category_of_new], &namespace).await
}

/// Inserts an app with its categories and its search document, all or nothing.
async fn insert(
    db: &DatabaseConnection,
    app: app::ActiveModel,
    categories: &[String],
    namespace: &str,
) -> Result<app::Model> {
    let txn = nexus_kit::db::begin_writing(db).await.map_err(internal)?;
    let created = app.insert(&txn).await.map_err(|e| {
        on_conflict(e, || {
            format!("an app with namespace `{namespace}` already exists")
        })
    })?;
    file_under(&txn, created.id, categories).await?;
    crate::search::index(&txn, &created)
        .await
        .map_err(internal)?;
    txn.commit().await.map_err(internal)?;
    Ok(created)
}

pub async fn find_app_by_namespace(
    db: &DatabaseConnection,
    namespace: &str,
) -> Result<Option<app::Model>> {
    app::Entity::find()
        .filter(app::Column::Namespace.eq(namespace))
        .one(db)
        .await
        .map_err(internal)
}

/// A developer's first submission under a namespace: the app, as a draft, listed as its manifest
/// says.
pub(crate) async fn create_draft(
    db: &DatabaseConnection,
    manifest: &nexus_registry::manifest::Manifest,
    developer: Uuid,
) -> Result<app::Model> {
    let now = Utc::now();
    let created = app::ActiveModel {
        id: Set(new_id()),
        namespace: Set(manifest.namespace.clone()),
        name: Set(manifest.name.clone()),
        description: Set(manifest.description.clone()),
        category: Set(manifest.category.trim().to_lowercase()),
        developer_id: Set(developer),
        status: Set(AppStatus::Draft),
        pricing_model: Set(manifest.pricing.model),
        price_cents: Set(manifest.pricing.price_cents),
        currency: Set(manifest.pricing.currency.clone()),
        trial_days: Set(manifest.pricing.trial_days),
        listing: Set(StoreListing::of(manifest).to_json()),
        access: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    insert(
        db,
        created,
        &nexus_registry::manifest::listing::categories(manifest),
        &manifest.namespace,
    )
    .await
}

/// An approved manifest is the listing from now on, what its version (serving `sdl`) can touch is
/// the app's, and the app is published (again, after a suspension).
pub(crate) async fn publish(
    txn: &DatabaseTransaction,
    app_id: Uuid,
    manifest: &nexus_registry::manifest::Manifest,
    sdl: &str,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    if let Some(app) = app::Entity::find_by_id(app_id)
        .one(txn)
        .await
        .map_err(internal)?
    {
        let mut app: app::ActiveModel = app.into();
        app.status = Set(AppStatus::Published);
        app.name = Set(manifest.name.clone());
        app.description = Set(manifest.description.clone());
        app.category = Set(manifest.category.trim().to_lowercase());
        app.pricing_model = Set(manifest.pricing.model);
        app.price_cents = Set(manifest.pricing.price_cents);
        app.currency = Set(manifest.pricing.currency.clone());
        app.trial_days = Set(manifest.pricing.trial_days);
        app.listing = Set(StoreListing::of(manifest).to_json());
        app.updated_at = Set(now);
        let app = app.update(txn).await.map_err(internal)?;
        crate::search::index(txn, &app).await.map_err(internal)?;
        file_under(
            txn,
            app_id,
            &nexus_registry::manifest::listing::categories(manifest),
        )
        .await?;
        record_access(txn, app_id, &Access::of(manifest, sdl)).await?;
    }
    Ok(())
}

/// Suspended by an admin: out of the supergraph until a new version is approved.
pub(crate) async fn suspend(txn: &DatabaseTransaction, found: app::Model) -> Result<app::Model> {
    let mut active: app::ActiveModel = found.into();
    active.status = Set(AppStatus::Suspended);
    active.updated_at = Set(Utc::now());
    active.update(txn).await.map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert!(validate_namespace("analytics").is_ok());
        assert!(validate_namespace("crm2").is_ok());
        for bad in [
            "a",
            "Analytics",
            "2crm",
            "my-app",
            "my_app",
            "user",
            "organization",
        ] {
            assert!(validate_namespace(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn pricing_rules() {
        use crate::entity::app::PricingModel;
        let valid = |pricing: &Pricing| {
            nexus_registry::manifest::check_listing("crm", "CRM", "sales", pricing).is_ok()
        };
        let paid = |price, currency: Option<&str>| Pricing {
            model: PricingModel::Paid,
            price_cents: price,
            currency: currency.map(str::to_owned),
            trial_days: None,
            summary: None,
        };
        assert!(valid(&paid(Some(900), Some("USD"))));
        assert!(!valid(&paid(None, Some("USD"))));
        assert!(!valid(&paid(Some(900), Some("usd"))));
        assert!(valid(&Pricing::free()));
        let trial = Pricing {
            model: PricingModel::Trial,
            price_cents: None,
            currency: None,
            trial_days: Some(14),
            summary: None,
        };
        assert!(valid(&trial));
    }
}
