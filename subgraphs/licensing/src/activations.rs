//! Activating, deactivating and validating a license by its key. Each answer carries one precise
//! code (`VALID`, `NOT_FOUND`, `EXPIRED`, …) for the app to branch on.
//!
//! Activations never exceed `max_activations`, however many race: a slot is taken by one
//! conditional `UPDATE … SET activation_count = activation_count + 1 WHERE activation_count <
//! max_activations`, in the same transaction as the activation row. PostgreSQL re-checks the
//! condition after the row lock; SQLite runs one writer at a time.

use chrono::Utc;
use nexus_kit::error::{Result, bad_input, internal};
use nexus_kit::id::new_id;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};

use crate::entity::activation;
use crate::entity::license::{self, LicenseStatus};
use crate::service;

#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidationCode {
    Valid,
    NotFound,
    Expired,
    Suspended,
    Revoked,
    TooManyActivations,
    NoActivation,
    FingerprintMismatch,
}

impl ValidationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::Valid => "VALID",
            ValidationCode::NotFound => "NOT_FOUND",
            ValidationCode::Expired => "EXPIRED",
            ValidationCode::Suspended => "SUSPENDED",
            ValidationCode::Revoked => "REVOKED",
            ValidationCode::TooManyActivations => "TOO_MANY_ACTIVATIONS",
            ValidationCode::NoActivation => "NO_ACTIVATION",
            ValidationCode::FingerprintMismatch => "FINGERPRINT_MISMATCH",
        }
    }
}

pub struct Outcome {
    pub code: ValidationCode,
    pub detail: String,
    pub license: Option<license::Model>,
    pub activation: Option<activation::Model>,
}

impl Outcome {
    fn new(code: ValidationCode, detail: impl Into<String>) -> Outcome {
        Outcome {
            code,
            detail: detail.into(),
            license: None,
            activation: None,
        }
    }

    fn of(mut self, license: &license::Model) -> Outcome {
        self.license = Some(license.clone());
        self
    }
}

const MAX_FINGERPRINT: usize = 256;
const MAX_NAME: usize = 200;

fn check_fingerprint(fingerprint: &str) -> Result<()> {
    if fingerprint.trim().is_empty() || fingerprint.len() > MAX_FINGERPRINT {
        return Err(bad_input(format!(
            "`fingerprint` must be 1 to {MAX_FINGERPRINT} characters"
        )));
    }
    Ok(())
}

/// `NOT_FOUND` for an unknown key or one the caller may not use (`usable` says no); otherwise the
/// license.
async fn licensed(
    db: &DatabaseConnection,
    key: &str,
    usable: impl Fn(&license::Model) -> bool,
) -> Result<std::result::Result<license::Model, Outcome>> {
    match service::find_by_key(db, key).await? {
        Some(license) if usable(&license) => Ok(Ok(license)),
        _ => Ok(Err(Outcome::new(
            ValidationCode::NotFound,
            "no license with this key",
        ))),
    }
}

/// The license's own state: `None` if it is active now.
fn refusal(license: &license::Model) -> Option<Outcome> {
    let outcome = match license.status_at(Utc::now()) {
        LicenseStatus::Active => return None,
        LicenseStatus::Expired => Outcome::new(
            ValidationCode::Expired,
            match license.expires_at {
                Some(at) => format!("the license expired at {}", at.to_rfc3339()),
                None => "the license has expired".to_owned(),
            },
        ),
        LicenseStatus::Suspended => Outcome::new(
            ValidationCode::Suspended,
            with_reason("the license is suspended", license),
        ),
        LicenseStatus::Revoked => Outcome::new(
            ValidationCode::Revoked,
            with_reason("the license has been revoked", license),
        ),
    };
    Some(outcome.of(license))
}

fn with_reason(what: &str, license: &license::Model) -> String {
    match &license.status_reason {
        Some(reason) => format!("{what}: {reason}"),
        None => what.to_owned(),
    }
}

async fn find_activation(
    db: &impl sea_orm::ConnectionTrait,
    license_id: uuid::Uuid,
    fingerprint: &str,
) -> Result<Option<activation::Model>> {
    activation::Entity::find()
        .filter(activation::Column::LicenseId.eq(license_id))
        .filter(activation::Column::Fingerprint.eq(fingerprint))
        .one(db)
        .await
        .map_err(internal)
}

/// Records that the activation was seen now (and its new name, if given).
async fn touch(
    db: &DatabaseConnection,
    found: activation::Model,
    name: Option<String>,
) -> Result<activation::Model> {
    let mut active: activation::ActiveModel = found.into();
    active.last_seen_at = Set(Utc::now());
    if let Some(name) = name {
        active.name = Set(Some(name));
    }
    active.update(db).await.map_err(internal)
}

/// Is the license valid — and, with a fingerprint, active on that machine?
pub async fn validate(
    db: &DatabaseConnection,
    key: &str,
    fingerprint: Option<&str>,
) -> Result<Outcome> {
    if let Some(fingerprint) = fingerprint {
        check_fingerprint(fingerprint)?;
    }
    let license = match licensed(db, key, |_| true).await? {
        Ok(license) => license,
        Err(outcome) => return Ok(outcome),
    };
    if let Some(refused) = refusal(&license) {
        return Ok(refused);
    }
    let Some(fingerprint) = fingerprint else {
        return Ok(Outcome::new(ValidationCode::Valid, "the license is valid").of(&license));
    };
    match find_activation(db, license.id, fingerprint).await? {
        Some(found) => {
            let activation = touch(db, found, None).await?;
            Ok(Outcome {
                activation: Some(activation),
                ..Outcome::new(
                    ValidationCode::Valid,
                    "the license is valid on this machine",
                )
                .of(&license)
            })
        }
        None if license.activation_count == 0 => Ok(Outcome::new(
            ValidationCode::NoActivation,
            "the license has not been activated yet: call activateLicense",
        )
        .of(&license)),
        None => Ok(Outcome::new(
            ValidationCode::FingerprintMismatch,
            "the license is activated, but not on this machine",
        )
        .of(&license)),
    }
}

/// Activates the license on `fingerprint`; again on the same fingerprint is a no-op (`VALID`).
pub async fn activate(
    db: &DatabaseConnection,
    key: &str,
    fingerprint: &str,
    name: Option<String>,
    usable: impl Fn(&license::Model) -> bool,
) -> Result<Outcome> {
    check_fingerprint(fingerprint)?;
    check_name(name.as_deref())?;
    let license = match licensed(db, key, usable).await? {
        Ok(license) => license,
        Err(outcome) => return Ok(outcome),
    };
    if let Some(refused) = refusal(&license) {
        return Ok(refused);
    }
    let activated = |activation: activation::Model, detail: &str| Outcome {
        activation: Some(activation),
        ..Outcome::new(ValidationCode::Valid, detail).of(&license)
    };
    if let Some(found) = find_activation(db, license.id, fingerprint).await? {
        let activation = touch(db, found, name).await?;
        return Ok(activated(activation, "already active on this machine"));
    }
    let txn = db.begin().await.map_err(internal)?;
    // The slot first: on SQLite this statement takes the write lock, so nothing read before it
    // in the transaction can go stale.
    if !take_slot(&txn, license.id).await? {
        txn.rollback().await.map_err(internal)?;
        return Ok(Outcome::new(
            ValidationCode::TooManyActivations,
            format!(
                "all {} activations of this license are in use: deactivate one first",
                license.max_activations
            ),
        )
        .of(&license));
    }
    match insert_activation(&txn, license.id, fingerprint, name).await {
        Ok(activation) => {
            txn.commit().await.map_err(internal)?;
            // With its new activation count.
            let license = service::find(db, license.id).await?;
            Ok(Outcome {
                activation: Some(activation),
                ..Outcome::new(ValidationCode::Valid, "activated on this machine").of(&license)
            })
        }
        // The same fingerprint activated a moment ago: give the slot back, answer with that one.
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            txn.rollback().await.map_err(internal)?;
            match find_activation(db, license.id, fingerprint).await? {
                Some(found) => Ok(activated(found, "already active on this machine")),
                None => Err(internal(e)),
            }
        }
        Err(e) => Err(internal(e)),
    }
}

/// Refuses an activation name longer than `MAX_NAME`.
fn check_name(name: Option<&str>) -> Result<()> {
    if name.is_some_and(|n| n.len() > MAX_NAME) {
        return Err(bad_input(format!(
            "`name` must be at most {MAX_NAME} characters"
        )));
    }
    Ok(())
}

/// Takes one activation slot of the license in `txn`; `false` when all are in use.
async fn take_slot(txn: &DatabaseTransaction, license_id: uuid::Uuid) -> Result<bool> {
    let taken = license::Entity::update_many()
        .col_expr(
            license::Column::ActivationCount,
            Expr::col(license::Column::ActivationCount).add(1),
        )
        .filter(license::Column::Id.eq(license_id))
        .filter(
            Expr::col(license::Column::ActivationCount)
                .lt(Expr::col(license::Column::MaxActivations)),
        )
        .exec(txn)
        .await
        .map_err(internal)?;
    Ok(taken.rows_affected != 0)
}

/// Inserts the activation row in `txn`; the database's error as is, for the caller to tell a
/// duplicate fingerprint apart.
async fn insert_activation(
    txn: &DatabaseTransaction,
    license_id: uuid::Uuid,
    fingerprint: &str,
    name: Option<String>,
) -> std::result::Result<activation::Model, DbErr> {
    let now = Utc::now();
    activation::ActiveModel {
        id: Set(new_id()),
        license_id: Set(license_id),
        fingerprint: Set(fingerprint.to_owned()),
        name: Set(name),
        created_at: Set(now),
        last_seen_at: Set(now),
    }
    .insert(txn)
    .await
}

/// Frees `fingerprint`'s activation; the answer then says what state the license is in.
pub async fn deactivate(
    db: &DatabaseConnection,
    key: &str,
    fingerprint: &str,
    usable: impl Fn(&license::Model) -> bool,
) -> Result<Outcome> {
    check_fingerprint(fingerprint)?;
    let license = match licensed(db, key, usable).await? {
        Ok(license) => license,
        Err(outcome) => return Ok(outcome),
    };
    let txn = db.begin().await.map_err(internal)?;
    // The license row first, as `activate` does: both lock in the same order.
    license::Entity::update_many()
        .col_expr(
            license::Column::ActivationCount,
            Expr::col(license::Column::ActivationCount).sub(1),
        )
        .filter(license::Column::Id.eq(license.id))
        .filter(license::Column::ActivationCount.gt(0))
        .exec(&txn)
        .await
        .map_err(internal)?;
    let deleted = activation::Entity::delete_many()
        .filter(activation::Column::LicenseId.eq(license.id))
        .filter(activation::Column::Fingerprint.eq(fingerprint))
        .exec(&txn)
        .await
        .map_err(internal)?;
    if deleted.rows_affected == 0 {
        txn.rollback().await.map_err(internal)?;
        return Ok(Outcome::new(
            ValidationCode::NoActivation,
            "the license is not active on this machine",
        )
        .of(&license));
    }
    txn.commit().await.map_err(internal)?;
    let license = service::find(db, license.id).await?;
    Ok(refusal(&license).unwrap_or_else(|| {
        Outcome::new(
            ValidationCode::Valid,
            format!(
                "deactivated: {} of {} activations in use",
                license.activation_count, license.max_activations
            ),
        )
        .of(&license)
    }))
}
