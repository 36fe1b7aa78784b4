//! Licensing's writes and reads beyond plain lookups, shared by GraphQL and the demo seed.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use nexus_kit::error::{Error, Result, bad_input, internal};
use nexus_kit::id::new_id;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entity::license::{self, LicenseKind, LicenseStatus};

pub struct NewLicense {
    pub app_id: Uuid,
    pub organization_id: Uuid,
    pub kind: LicenseKind,
    pub max_activations: i32,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn create_license(db: &DatabaseConnection, new: NewLicense) -> Result<license::Model> {
    if !(1..=100_000).contains(&new.max_activations) {
        return Err(bad_input(format!(
            "`maxActivations` must be between 1 and 100000, got {}",
            new.max_activations
        )));
    }
    let now = Utc::now();
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(bad_input("`expiresAt` must be in the future"));
    }
    if matches!(new.kind, LicenseKind::Trial | LicenseKind::Subscription)
        && new.expires_at.is_none()
    {
        return Err(bad_input(
            "trial and subscription licenses need `expiresAt`",
        ));
    }
    license::ActiveModel {
        id: Set(new_id()),
        app_id: Set(new.app_id),
        organization_id: Set(new.organization_id),
        kind: Set(new.kind),
        status: Set(LicenseStatus::Active),
        max_activations: Set(new.max_activations),
        expires_at: Set(new.expires_at),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(internal)
}

/// The license that governs an (app, organization) pair: the newest active one, else the newest.
pub struct LicenseForInstallation {
    pub db: DatabaseConnection,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AppOrganization {
    pub app_id: Uuid,
    pub organization_id: Uuid,
}

impl Loader<AppOrganization> for LicenseForInstallation {
    type Value = license::Model;
    type Error = Error;

    async fn load(
        &self,
        keys: &[AppOrganization],
    ) -> Result<HashMap<AppOrganization, license::Model>> {
        // One statement for the batch; pairs not asked for are dropped below.
        let rows = license::Entity::find()
            .filter(license::Column::AppId.is_in(keys.iter().map(|k| k.app_id)))
            .filter(license::Column::OrganizationId.is_in(keys.iter().map(|k| k.organization_id)))
            .all(&self.db)
            .await
            .map_err(internal)?;
        let mut best: HashMap<AppOrganization, license::Model> = HashMap::new();
        for row in rows {
            let key = AppOrganization {
                app_id: row.app_id,
                organization_id: row.organization_id,
            };
            if !keys.contains(&key) {
                continue;
            }
            let rank = |l: &license::Model| (l.status == LicenseStatus::Active, l.id);
            match best.get(&key) {
                Some(current) if rank(current) >= rank(&row) => {}
                _ => {
                    best.insert(key, row);
                }
            }
        }
        Ok(best)
    }
}
