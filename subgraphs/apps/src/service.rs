//! Apps' writes, shared by the GraphQL mutations and the demo seed; input is validated here.

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Result, bad_input, internal, not_found, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::entity::app::{self, AppStatus, PricingModel};
use crate::entity::installation::{self, InstallationStatus};

/// The manifest's namespace rule, as a GraphQL error.
pub fn validate_namespace(namespace: &str) -> Result<()> {
    nexus_registry::manifest::check_namespace(namespace).map_err(bad_input)
}

pub struct Pricing {
    pub model: PricingModel,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub trial_days: Option<i32>,
}

impl Pricing {
    pub fn free() -> Self {
        Pricing {
            model: PricingModel::Free,
            price_cents: None,
            currency: None,
            trial_days: None,
        }
    }

    fn validate(&self) -> Result<()> {
        let priced = matches!(self.model, PricingModel::Paid | PricingModel::Subscription);
        match (priced, self.price_cents, &self.currency) {
            (true, Some(p), Some(c))
                if p > 0 && c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase()) => {}
            (true, _, _) => {
                return Err(bad_input(
                    "paid and subscription pricing need a positive `priceCents` and a 3-letter uppercase `currency` (ISO 4217)",
                ));
            }
            (false, None, None) => {}
            (false, _, _) => {
                return Err(bad_input(
                    "only paid and subscription pricing take a price and currency",
                ));
            }
        }
        match (self.model, self.trial_days) {
            (PricingModel::Trial, Some(d)) if (1..=365).contains(&d) => Ok(()),
            (PricingModel::Trial, _) => Err(bad_input(
                "trial pricing needs `trialDays` between 1 and 365",
            )),
            (_, None) => Ok(()),
            (_, Some(_)) => Err(bad_input("only trial pricing takes `trialDays`")),
        }
    }
}

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
    validate_namespace(&new.namespace)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(bad_input("app name must be 1 to 200 characters"));
    }
    let category = new.category.trim().to_lowercase();
    if category.is_empty() || category.len() > 64 {
        return Err(bad_input("app category must be 1 to 64 characters"));
    }
    new.pricing.validate()?;
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

/// An installation no one asked for through the API (the demo seed, bulk fixtures): no audit entry.
pub async fn create_installation(
    db: &DatabaseConnection,
    app_id: Uuid,
    organization_id: Uuid,
    installed_by: Uuid,
    scopes: Vec<String>,
) -> Result<installation::Model> {
    insert_installation(db, app_id, organization_id, installed_by, scopes, None).await
}

/// Inserts the installation; `audit` (`installation.created`, by whom) is completed here and
/// appended in the same transaction.
pub(crate) async fn insert_installation(
    db: &DatabaseConnection,
    app_id: Uuid,
    organization_id: Uuid,
    installed_by: Uuid,
    scopes: Vec<String>,
    audit: Option<Entry>,
) -> Result<installation::Model> {
    let app = app::Entity::find_by_id(app_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no app with id `{app_id}`")))?;
    if app.status != AppStatus::Published {
        return Err(nexus_kit::Code::Conflict.error(format!(
            "app `{}` is not published, so it cannot be installed",
            app.namespace
        )));
    }
    let mut scopes = scopes;
    scopes.sort();
    scopes.dedup();
    let now = Utc::now();
    let txn = db.begin().await.map_err(internal)?;
    let created = installation::ActiveModel {
        id: Set(new_id()),
        app_id: Set(app_id),
        organization_id: Set(organization_id),
        installed_by: Set(installed_by),
        status: Set(InstallationStatus::Active),
        granted_scopes: Set(serde_json::json!(scopes)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        on_conflict(e, || {
            format!(
                "app `{}` is already installed in organization `{organization_id}`",
                app.namespace
            )
        })
    })?;
    nexus_kit::outbox::emit(
        &txn,
        crate::name::NAME,
        crate::events::installation("app.installed", &created),
    )
    .await?;
    if let Some(audit) = audit {
        let entry = audit
            .in_organization(organization_id)
            .target("installation", created.id)
            .details(json!({ "app_id": app_id, "scopes": scopes }));
        nexus_kit::audit::record(&txn, entry).await?;
    }
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
        let paid = |price, currency: Option<&str>| Pricing {
            model: PricingModel::Paid,
            price_cents: price,
            currency: currency.map(str::to_owned),
            trial_days: None,
        };
        assert!(paid(Some(900), Some("USD")).validate().is_ok());
        assert!(paid(None, Some("USD")).validate().is_err());
        assert!(paid(Some(900), Some("usd")).validate().is_err());
        assert!(Pricing::free().validate().is_ok());
        let trial = Pricing {
            model: PricingModel::Trial,
            price_cents: None,
            currency: None,
            trial_days: Some(14),
        };
        assert!(trial.validate().is_ok());
    }
}
