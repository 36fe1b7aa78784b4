//! Paid apps need a license: installing a `paid` or `subscription` app needs a valid license of
//! the organization (asked of the licensing service), a `trial` app gets its trial license on
//! the first install, and a periodic sync suspends installations whose license stopped being
//! valid (expired, suspended, revoked) and resumes them when it is valid again.

use std::time::Duration;

use async_graphql::ErrorExtensions;
use chrono::Utc;
use nexus_kit::core_client::CoreClient;
use nexus_kit::error::{Error, Result, internal};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::entity::app::{self, PricingModel};
use crate::entity::installation::{self, InstallationStatus};

/// The code of the install error when a license is missing.
pub const LICENSE_REQUIRED: &str = "LICENSE_REQUIRED";
/// Installations checked per call to the licensing service.
const BATCH: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Standing {
    app_id: Uuid,
    organization_id: Uuid,
    valid: bool,
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Standings {
    license_standings: Vec<Standing>,
}

const STANDINGS: &str = "query($pairs: [LicensingAppOrganization!]!) { \
    licenseStandings(pairs: $pairs) { appId organizationId valid code } }";

async fn standings(licensing: &CoreClient, pairs: &[(Uuid, Uuid)]) -> Result<Vec<Standing>> {
    let pairs: Vec<_> = pairs
        .iter()
        .map(|(app, org)| json!({ "appId": app, "organizationId": org }))
        .collect();
    let answer: Standings = licensing
        .query(STANDINGS, json!({ "pairs": pairs }))
        .await?;
    Ok(answer.license_standings)
}

/// Whether the app's pricing lets `organization_id` install it; a trial app's first install
/// starts the trial.
pub async fn check_install(
    licensing: &CoreClient,
    app: &app::Model,
    organization_id: Uuid,
) -> Result<()> {
    match app.pricing_model {
        PricingModel::Free => return Ok(()),
        PricingModel::Trial => {
            let days = app.trial_days.unwrap_or(14);
            let _: serde_json::Value = licensing
                .query(
                    "mutation($app: ID!, $org: ID!, $days: Int!) { \
                     startTrial(appId: $app, organizationId: $org, trialDays: $days) { id } }",
                    json!({ "app": app.id, "org": organization_id, "days": days }),
                )
                .await?;
        }
        PricingModel::Paid | PricingModel::Subscription => {}
    }
    let standing = standings(licensing, &[(app.id, organization_id)]).await?;
    match standing.first() {
        Some(s) if s.valid => Ok(()),
        other => Err(license_required(
            app,
            other.map_or("NOT_FOUND", |s| s.code.as_str()),
        )),
    }
}

fn license_required(app: &app::Model, code: &str) -> Error {
    let why = match code {
        "NOT_FOUND" => "holds no license of it".to_owned(),
        code => format!("has a license of it that is not valid ({code})"),
    };
    let message = match app.pricing_model {
        PricingModel::Trial => format!(
            "the trial of `{}` in your organization has ended; its license {}: ask the app's developer for a license",
            app.namespace,
            if code == "NOT_FOUND" {
                "is gone".to_owned()
            } else {
                format!("is {code}")
            }
        ),
        _ => format!(
            "`{}` is a paid app and your organization {why}: ask the app's developer for a license",
            app.namespace
        ),
    };
    Error::new(message).extend_with(|_, e| {
        e.set("code", LICENSE_REQUIRED);
        e.set("app", app.namespace.clone());
        e.set("licenseCode", code.to_owned());
    })
}

/// One pass: every installation of a licensed app follows its license. Returns how many
/// installations changed.
pub async fn sync_once(db: &DatabaseConnection, licensing: &CoreClient) -> Result<usize> {
    let installations = licensed_installations(db).await?;
    let mut changed = 0;
    for chunk in installations.chunks(BATCH) {
        let (suspend, resume) = to_change(licensing, chunk).await?;
        for (ids, from, to) in [
            (
                suspend,
                InstallationStatus::Active,
                InstallationStatus::Suspended,
            ),
            (
                resume,
                InstallationStatus::Suspended,
                InstallationStatus::Active,
            ),
        ] {
            let event_type = match to {
                InstallationStatus::Suspended => "installation.suspended",
                _ => "installation.resumed",
            };
            // One at a time, each with its event, in one transaction.
            for id in ids {
                if change_status(db, id, from, to, event_type).await? {
                    changed += 1;
                }
            }
        }
    }
    Ok(changed)
}

/// The active and suspended installations of apps that are not free.
async fn licensed_installations(db: &DatabaseConnection) -> Result<Vec<installation::Model>> {
    let licensed: Vec<Uuid> = app::Entity::find()
        .filter(app::Column::PricingModel.ne(PricingModel::Free))
        .all(db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|a| a.id)
        .collect();
    if licensed.is_empty() {
        return Ok(Vec::new());
    }
    installation::Entity::find()
        .filter(installation::Column::AppId.is_in(licensed))
        .filter(
            installation::Column::Status
                .is_in([InstallationStatus::Active, InstallationStatus::Suspended]),
        )
        .all(db)
        .await
        .map_err(internal)
}

/// Of `chunk`, the active installations whose license is no longer valid (to suspend) and the
/// suspended ones whose license is valid again (to resume), as the licensing service says.
async fn to_change(
    licensing: &CoreClient,
    chunk: &[installation::Model],
) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
    let pairs: Vec<(Uuid, Uuid)> = chunk
        .iter()
        .map(|i| (i.app_id, i.organization_id))
        .collect();
    let standings = standings(licensing, &pairs).await?;
    let valid = |i: &installation::Model| {
        standings
            .iter()
            .any(|s| s.app_id == i.app_id && s.organization_id == i.organization_id && s.valid)
    };
    let (mut suspend, mut resume) = (Vec::new(), Vec::new());
    for i in chunk {
        match (i.status, valid(i)) {
            (InstallationStatus::Active, false) => suspend.push(i.id),
            (InstallationStatus::Suspended, true) => resume.push(i.id),
            _ => {}
        }
    }
    Ok((suspend, resume))
}

/// Moves one installation from `from` to `to` and announces it (`event_type`), in one
/// transaction; whether it moved.
async fn change_status(
    db: &DatabaseConnection,
    id: Uuid,
    from: InstallationStatus,
    to: InstallationStatus,
    event_type: &'static str,
) -> Result<bool> {
    let mut changed = false;
    let txn = db.begin().await.map_err(internal)?;
    let result = installation::Entity::update_many()
        .col_expr(installation::Column::Status, Expr::value(to))
        .col_expr(installation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(installation::Column::Id.eq(id))
        // Not one the organization uninstalled in the meantime.
        .filter(installation::Column::Status.eq(from))
        .exec(&txn)
        .await
        .map_err(internal)?;
    if result.rows_affected == 1
        && let Some(updated) = installation::Entity::find_by_id(id)
            .one(&txn)
            .await
            .map_err(internal)?
    {
        nexus_kit::outbox::emit(
            &txn,
            crate::name::NAME,
            crate::events::installation(event_type, &updated),
        )
        .await?;
        changed = true;
    }
    txn.commit().await.map_err(internal)?;
    Ok(changed)
}

/// Runs `sync_once` every `interval` until the process ends.
pub fn spawn_sync(
    db: DatabaseConnection,
    licensing: CoreClient,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match sync_once(&db, &licensing).await {
                Ok(0) => {}
                Ok(changed) => tracing::info!(changed, "installations follow their licenses"),
                Err(e) => {
                    tracing::warn!(error = %e.message, "license sync failed; retrying next interval")
                }
            }
        }
    })
}
