//! Licensing's writes and reads beyond plain lookups, shared by GraphQL and the demo seed.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Error, Result, bad_input, internal, not_found};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, Set, TransactionTrait, UpdateMany,
};
use serde_json::json;
use uuid::Uuid;

use crate::entity::license::{self, LicenseKind, LicenseStatus};
use crate::events;
use crate::keys;

pub struct NewLicense {
    pub app_id: Uuid,
    /// The app's namespace and developer, as the apps service knows them.
    pub app_namespace: Option<String>,
    pub developer_id: Option<Uuid>,
    pub organization_id: Uuid,
    pub kind: LicenseKind,
    pub max_activations: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub entitlements: Vec<String>,
    pub issued_by: Option<Uuid>,
}

/// An issued license and its key (shown once, never stored).
pub struct Issued {
    pub license: license::Model,
    pub key: String,
}

pub const MAX_ENTITLEMENTS: usize = 50;

/// A license no one issued through the API (the demo seed, bulk fixtures): no audit entry.
pub async fn create_license(
    db: &(impl ConnectionTrait + TransactionTrait),
    new: NewLicense,
) -> Result<Issued> {
    insert_license(db, new, None).await
}

/// Issues a license; `audit` (`license.issued`, by whom) is completed here.
pub async fn issue_license(
    db: &(impl ConnectionTrait + TransactionTrait),
    new: NewLicense,
    audit: Entry,
) -> Result<Issued> {
    insert_license(db, new, Some(audit)).await
}

async fn insert_license(
    db: &(impl ConnectionTrait + TransactionTrait),
    new: NewLicense,
    audit: Option<Entry>,
) -> Result<Issued> {
    let now = Utc::now();
    check_new_license(&new, now)?;
    let key = keys::generate();
    let txn = db.begin().await.map_err(internal)?;
    let license = new_license_row(new, &key, now)
        .insert(&txn)
        .await
        .map_err(|e| {
            nexus_kit::error::on_conflict(e, || {
                "this organization already had a trial of this app".to_owned()
            })
        })?;
    nexus_kit::outbox::emit(
        &txn,
        crate::name::NAME,
        events::license("license.issued", &license),
    )
    .await?;
    if let Some(audit) = audit {
        record_issued(&txn, audit, &license).await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(Issued { license, key })
}

/// Refuses a license that could not be issued as asked: its limits, expiry and entitlements.
fn check_new_license(new: &NewLicense, now: DateTime<Utc>) -> Result<()> {
    if !(1..=100_000).contains(&new.max_activations) {
        return Err(bad_input(format!(
            "`maxActivations` must be between 1 and 100000, got {}",
            new.max_activations
        )));
    }
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
    if new.entitlements.len() > MAX_ENTITLEMENTS
        || new
            .entitlements
            .iter()
            .any(|e| e.trim().is_empty() || e.len() > 100)
    {
        return Err(bad_input(format!(
            "`entitlements`: at most {MAX_ENTITLEMENTS}, each 1 to 100 characters"
        )));
    }
    Ok(())
}

/// The row of a newly issued, active license with `key` (stored only as its hash and last 4).
fn new_license_row(new: NewLicense, key: &str, now: DateTime<Utc>) -> license::ActiveModel {
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
        key_hash: Set(Some(keys::hash(key))),
        key_last4: Set(Some(keys::last4(key))),
        entitlements: Set(Some(serde_json::json!(new.entitlements))),
        activation_count: Set(0),
        app_namespace: Set(new.app_namespace),
        developer_id: Set(new.developer_id),
        issued_by: Set(new.issued_by),
        status_reason: Set(None),
        expiry_announced_for: Set(None),
    }
}

/// Completes and records `audit` (`license.issued`) in the issuing transaction.
async fn record_issued(
    txn: &DatabaseTransaction,
    audit: Entry,
    license: &license::Model,
) -> Result<()> {
    let entry = audit
        .in_organization(license.organization_id)
        .target("license", license.id)
        .details(json!({
            "app_id": license.app_id,
            "kind": license.kind.to_value(),
            "max_activations": license.max_activations,
            "expires_at": license.expires_at,
        }));
    nexus_kit::audit::record(txn, entry).await
}

/// The organization's trial of the app, if it ever had one.
pub async fn find_trial(
    db: &DatabaseConnection,
    app_id: Uuid,
    organization_id: Uuid,
) -> Result<Option<license::Model>> {
    license::Entity::find()
        .filter(license::Column::AppId.eq(app_id))
        .filter(license::Column::OrganizationId.eq(organization_id))
        .filter(license::Column::Kind.eq(LicenseKind::Trial))
        .one(db)
        .await
        .map_err(internal)
}

/// The license with this key, if any.
pub async fn find_by_key(db: &impl ConnectionTrait, key: &str) -> Result<Option<license::Model>> {
    license::Entity::find()
        .filter(license::Column::KeyHash.eq(keys::hash(key)))
        .one(db)
        .await
        .map_err(internal)
}

pub async fn find(db: &DatabaseConnection, id: Uuid) -> Result<license::Model> {
    license::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no license `{id}`")))
}

/// What an issuer may do to a license.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Suspend,
    Reinstate,
    Revoke,
    Renew(DateTime<Utc>),
}

impl Change {
    /// Its event's type, and its audit entry's action.
    pub fn action(self) -> &'static str {
        match self {
            Change::Suspend => "license.suspended",
            Change::Reinstate => "license.reinstated",
            Change::Revoke => "license.revoked",
            Change::Renew(_) => "license.renewed",
        }
    }
}

/// Applies `change`; revoked licenses stay revoked, and each change says why it cannot apply.
/// `audit`: `change.action()`, by whom.
pub async fn change(
    db: &DatabaseConnection,
    found: license::Model,
    change: Change,
    reason: Option<String>,
    audit: Entry,
) -> Result<license::Model> {
    let now = Utc::now();
    let mut active = changed_row(&found, change, now)?;
    active.status_reason = Set(reason.filter(|r| !r.trim().is_empty()));
    active.updated_at = Set(now);
    let update = update_if_unchanged(&found, change, active);
    // Read back in the same transaction, under the row lock the update took: the answer is the
    // license as this change left it, not as a change racing in right after made it.
    let txn = db.begin().await.map_err(internal)?;
    let applied = update.exec(&txn).await.map_err(internal)?;
    let current = license::Entity::find_by_id(found.id)
        .one(&txn)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no license `{}`", found.id)))?;
    if applied.rows_affected == 0 {
        return Err(Code::Conflict.error(format!(
            "the license changed while this change was being made (it is now {:?}); look again and retry",
            current.status
        )));
    }
    nexus_kit::outbox::emit(
        &txn,
        crate::name::NAME,
        events::license(change.action(), &current),
    )
    .await?;
    record_change(&txn, audit, &found, &current).await?;
    txn.commit().await.map_err(internal)?;
    Ok(current)
}

/// The license's row as `change` leaves it (status and expiry), or why it cannot apply.
fn changed_row(
    found: &license::Model,
    change: Change,
    now: DateTime<Utc>,
) -> Result<license::ActiveModel> {
    if found.status == LicenseStatus::Revoked {
        return Err(Code::Conflict.error("the license is revoked; issue a new one"));
    }
    let mut active: license::ActiveModel = found.clone().into();
    match change {
        Change::Suspend => {
            if found.status == LicenseStatus::Suspended {
                return Err(Code::Conflict.error("the license is already suspended"));
            }
            active.status = Set(LicenseStatus::Suspended);
        }
        Change::Reinstate => {
            if found.status != LicenseStatus::Suspended {
                return Err(Code::Conflict.error("only a suspended license can be reinstated"));
            }
            active.status = Set(LicenseStatus::Active);
        }
        Change::Revoke => active.status = Set(LicenseStatus::Revoked),
        Change::Renew(expires_at) => {
            if expires_at <= now {
                return Err(bad_input("`expiresAt` must be in the future"));
            }
            if found
                .expires_at
                .is_some_and(|current| expires_at <= current)
            {
                return Err(bad_input(
                    "`expiresAt` must be later than the current expiry",
                ));
            }
            active.expires_at = Set(Some(expires_at));
            // A renewed license that had lapsed is live again.
            if found.status == LicenseStatus::Expired {
                active.status = Set(LicenseStatus::Active);
            }
        }
    }
    Ok(active)
}

/// The UPDATE that writes `active` over `found`, only if the license is still as read.
fn update_if_unchanged(
    found: &license::Model,
    change: Change,
    active: license::ActiveModel,
) -> UpdateMany<license::Entity> {
    // Applied only if the license is still as read: of two changes racing, the second finds it
    // changed and fails, so a reinstatement can never undo a revocation that committed first.
    let unchanged_expiry = match found.expires_at {
        Some(at) => license::Column::ExpiresAt.eq(at),
        None => license::Column::ExpiresAt.is_null(),
    };
    let update = license::Entity::update_many()
        .set(active)
        .filter(license::Column::Id.eq(found.id));
    // A revocation applies whatever happened meanwhile, unless another revocation came first.
    if change == Change::Revoke {
        update.filter(license::Column::Status.ne(LicenseStatus::Revoked))
    } else {
        update
            .filter(license::Column::Status.eq(found.status))
            .filter(unchanged_expiry)
    }
}

/// Completes and records `audit` (the change, from `found` to `current`) in the change's
/// transaction.
async fn record_change(
    txn: &DatabaseTransaction,
    audit: Entry,
    found: &license::Model,
    current: &license::Model,
) -> Result<()> {
    let entry = audit
        .in_organization(current.organization_id)
        .target("license", current.id)
        .details(json!({
            "app_id": current.app_id,
            "from": found.status.to_value(),
            "to": current.status.to_value(),
            "reason": current.status_reason,
            "expires_at": current.expires_at,
        }));
    nexus_kit::audit::record(txn, entry).await
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
        governing_licenses(&self.db, keys).await
    }
}

/// For each pair, the license that governs it (one statement for all pairs).
pub async fn governing_licenses(
    db: &DatabaseConnection,
    keys: &[AppOrganization],
) -> Result<HashMap<AppOrganization, license::Model>> {
    // Pairs not asked for are dropped below.
    let rows = license::Entity::find()
        .filter(license::Column::AppId.is_in(keys.iter().map(|k| k.app_id)))
        .filter(license::Column::OrganizationId.is_in(keys.iter().map(|k| k.organization_id)))
        .all(db)
        .await
        .map_err(internal)?;
    let now = Utc::now();
    let mut best: HashMap<AppOrganization, license::Model> = HashMap::new();
    for row in rows {
        let key = AppOrganization {
            app_id: row.app_id,
            organization_id: row.organization_id,
        };
        if !keys.contains(&key) {
            continue;
        }
        let rank = |l: &license::Model| (l.status_at(now) == LicenseStatus::Active, l.id);
        match best.get(&key) {
            Some(current) if rank(current) >= rank(&row) => {}
            _ => {
                best.insert(key, row);
            }
        }
    }
    Ok(best)
}
