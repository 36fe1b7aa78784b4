//! App versions and supergraph versions: submit (automatic checks), review, publish, roll back.
//!
//! The head supergraph version lists the app versions that are live; every new supergraph is
//! composed from the core plus that list, changed by one app. A composition that fails publishes
//! nothing, so the live supergraph is never replaced by a broken one.

use chrono::Utc;
use nexus_kit::audit::{self, Entry};
use nexus_kit::error::{Code, Result, internal};
use nexus_kit::id::new_id;
use nexus_registry::submission::{self, SubmissionError};
use nexus_registry::{Registry, SubgraphSdl};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set, TransactionTrait};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use super::publisher::Publisher;
use crate::entity::app::{self};
use crate::entity::app_version::{self, AppVersionStatus};
use crate::entity::supergraph_version;
use crate::registry::changes::{Change, Changed};
use crate::registry::live_set::{
    compose_with, find_version, head, live_apps, published, supergraph_row,
};

pub struct Submitted {
    pub version: Option<app_version::Model>,
    pub errors: Vec<SubmissionError>,
}

/// The app's live version: its one approved version, if it has one.
pub async fn live_version(
    db: &impl sea_orm::ConnectionTrait,
    app_id: Uuid,
) -> Result<Option<app_version::Model>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    app_version::Entity::find()
        .filter(app_version::Column::AppId.eq(app_id))
        .filter(app_version::Column::Status.eq(AppVersionStatus::Approved))
        .one(db)
        .await
        .map_err(internal)
}

/// The supergraph to serve at start: the core as it runs now plus the head's apps (or the core
/// alone if that no longer composes, which is logged). The first start records the core-only
/// supergraph as the first version, so there is always a version to roll back to.
pub async fn startup_supergraph(
    db: &DatabaseConnection,
    registry: &Registry,
) -> anyhow::Result<String> {
    let failed = |e: nexus_kit::Error| anyhow::anyhow!("{}", e.message);
    if head(db).await.map_err(failed)?.is_none() {
        let (sdl, listed) = compose_with(registry, &[]).map_err(failed)?;
        let recording = |e| anyhow::anyhow!("recording the first supergraph version: {e}");
        let txn = db.begin().await.map_err(recording)?;
        let first = supergraph_row(&sdl, listed, None, "core subgraphs".into())
            .insert(&txn)
            .await
            .map_err(recording)?;
        audit::append(&txn, published(crate::name::service_actor(), None, &first))
            .await
            .map_err(recording)?;
        txn.commit().await.map_err(recording)?;
        return Ok(sdl);
    }
    let apps: Vec<(Option<Uuid>, SubgraphSdl)> = live_apps(db)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|(v, s)| (Some(v.id), s))
        .collect();
    match compose_with(registry, &apps) {
        Ok((sdl, _)) => Ok(sdl),
        Err(e) => {
            tracing::error!(error = %e.message, "the live apps no longer compose with the core; serving the core alone");
            Ok(registry.compose(&[])?)
        }
    }
}

pub async fn submit(
    db: &DatabaseConnection,
    registry: &Registry,
    developer: Uuid,
    document: &serde_json::Value,
) -> Result<Submitted> {
    let live: Vec<SubgraphSdl> = live_apps(db).await?.into_iter().map(|(_, s)| s).collect();
    let outcome = submission::check(document, &registry.context(&live)).await;
    let (manifest, sdl, errors) = match outcome {
        Ok(accepted) => (accepted.manifest, Some(accepted.sdl), Vec::new()),
        Err(rejected) => match rejected.manifest {
            Some(manifest) => (manifest, rejected.sdl, rejected.errors),
            // Without a valid manifest there is no app to file it under.
            None => {
                return Ok(Submitted {
                    version: None,
                    errors: rejected.errors,
                });
            }
        },
    };
    // The platform's list of categories is the database's: checked here, with the other
    // manifest problems (nothing is filed).
    let unknown = crate::listing::unknown_categories(db, &manifest).await?;
    if !unknown.is_empty() {
        return Ok(Submitted {
            version: None,
            errors: unknown.into_iter().chain(errors).collect(),
        });
    }
    let existing = crate::listing::find_app_by_namespace(db, &manifest.namespace).await?;
    let app = match existing {
        Some(app) if app.developer_id != developer => {
            return Err(Code::Forbidden.error(format!(
                "the namespace `{}` belongs to another developer's app",
                manifest.namespace
            )));
        }
        Some(app) => app,
        None => crate::listing::create_draft(db, &manifest, developer).await?,
    };
    let status = if errors.is_empty() {
        AppVersionStatus::InReview
    } else {
        AppVersionStatus::Rejected
    };
    let version = app_version::ActiveModel {
        id: Set(new_id()),
        app_id: Set(app.id),
        version: Set(manifest.version.clone()),
        manifest: Set(document.clone()),
        subgraph_url: Set(manifest.graphql.subgraph_url.clone()),
        sdl: Set(sdl),
        status: Set(status),
        errors: Set(serde_json::to_value(&errors).unwrap_or_default()),
        submitted_by: Set(developer),
        reviewed_by: Set(None),
        review_reason: Set(None),
        created_at: Set(Utc::now()),
        reviewed_at: Set(None),
    }
    .insert(db)
    .await
    .map_err(|e| {
        nexus_kit::error::on_conflict(e, || {
            format!(
                "version {} of `{}` was already submitted: bump `version`",
                manifest.version, manifest.namespace
            )
        })
    })?;
    Ok(Submitted {
        version: Some(version),
        errors,
    })
}

/// Approves a version in review: composes it with the live apps, makes it live and publishes the
/// new supergraph. If it does not compose now, nothing changes and the error says why. Approving
/// a new version of a suspended app is how it comes back. `audit`: `app_version.approved`, by whom.
pub async fn approve(
    publisher: &Arc<Publisher>,
    admin: Uuid,
    id: Uuid,
    audit: Entry,
) -> Result<(app_version::Model, supergraph_version::Model)> {
    match publisher.publish(admin, Change::Approve(id), audit).await? {
        (Changed::Approved(version), head) => Ok((version, head)),
        _ => Err(Code::Internal.error("an approval answered with another change")),
    }
}

/// `audit`: `app_version.rejected`, by whom.
pub async fn reject(
    db: &DatabaseConnection,
    admin: Uuid,
    id: Uuid,
    reason: String,
    audit: Entry,
) -> Result<app_version::Model> {
    let version = find_version(db, id).await?;
    if version.status != AppVersionStatus::InReview {
        return Err(Code::Conflict.error(format!(
            "only versions in review can be rejected; this one is {:?}",
            version.status
        )));
    }
    let mut rejected: app_version::ActiveModel = version.into();
    rejected.status = Set(AppVersionStatus::Rejected);
    rejected.reviewed_by = Set(Some(admin));
    rejected.reviewed_at = Set(Some(Utc::now()));
    rejected.review_reason = Set(Some(reason));
    let txn = db.begin().await.map_err(internal)?;
    let rejected = rejected.update(&txn).await.map_err(internal)?;
    nexus_kit::outbox::emit(
        &txn,
        crate::name::NAME,
        crate::events::version("app_version.rejected", &rejected),
    )
    .await?;
    let audit = audit.target("app", rejected.app_id).details(json!({
        "app_version_id": rejected.id,
        "version": rejected.version,
        "reason": rejected.review_reason,
    }));
    audit::record(&txn, audit).await?;
    txn.commit().await.map_err(internal)?;
    Ok(rejected)
}

/// Publishes an older supergraph version's apps again, as a new head. Apps suspended since stay
/// out: a rollback never revives a suspended app. `audit`: `supergraph.rolled_back`, by whom.
pub async fn rollback(
    publisher: &Arc<Publisher>,
    admin: Uuid,
    id: Uuid,
    audit: Entry,
) -> Result<supergraph_version::Model> {
    match publisher
        .publish(admin, Change::Rollback(id), audit)
        .await?
    {
        (Changed::RolledBack, head) => Ok(head),
        _ => Err(Code::Internal.error("a rollback answered with another change")),
    }
}

/// Suspends an app: a new supergraph without it is published (its live version stays recorded,
/// so approving a new version brings it back). `audit`: `app.suspended`, by whom.
pub async fn suspend(
    publisher: &Arc<Publisher>,
    admin: Uuid,
    app_id: Uuid,
    audit: Entry,
) -> Result<(app::Model, supergraph_version::Model)> {
    match publisher
        .publish(admin, Change::Suspend(app_id), audit)
        .await?
    {
        (Changed::Suspended(app), head) => Ok((app, head)),
        _ => Err(Code::Internal.error("a suspension answered with another change")),
    }
}
