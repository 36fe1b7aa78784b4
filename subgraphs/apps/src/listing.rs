//! An app's listing, the `apps` row: its namespace, name, description, category, pricing and
//! status (draft, published, suspended). This module is its only writer: created directly (the
//! seed) or by a developer's first submission, its fields taken from each approved manifest,
//! suspended by an admin. Its fields follow the manifest's rules (`nexus_registry::manifest`),
//! whichever way they are set.

use chrono::Utc;
use nexus_kit::error::{Result, bad_input, internal, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use crate::entity::app::{self, AppStatus};

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
    let now = Utc::now();
    let namespace = new.namespace;
    app::ActiveModel {
        id: Set(new_id()),
        namespace: Set(namespace.clone()),
        name: Set(name.to_owned()),
        description: Set(new.description),
        category: Set(category),
        developer_id: Set(new.developer_id),
        status: Set(new.status),
        pricing_model: Set(new.pricing.model),
        price_cents: Set(new.pricing.price_cents),
        currency: Set(new.pricing.currency),
        trial_days: Set(new.pricing.trial_days),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_conflict(e, || {
            format!("an app with namespace `{namespace}` already exists")
        })
    })
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
    app::ActiveModel {
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
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        nexus_kit::error::on_conflict(e, || {
            format!(
                "an app with namespace `{}` already exists",
                manifest.namespace
            )
        })
    })
}

/// An approved manifest is the listing from now on, and the app is published (again, after a
/// suspension).
pub(crate) async fn publish(
    txn: &DatabaseTransaction,
    app_id: Uuid,
    manifest: &nexus_registry::manifest::Manifest,
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
        app.updated_at = Set(now);
        app.update(txn).await.map_err(internal)?;
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
        };
        assert!(valid(&trial));
    }
}
