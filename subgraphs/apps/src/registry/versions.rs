//! App versions and supergraph versions: submit (automatic checks), review, publish, roll back.
//!
//! The head supergraph version lists the app versions that are live; every new supergraph is
//! composed from the core plus that list, changed by one app. A composition that fails publishes
//! nothing, so the live supergraph is never replaced by a broken one.

use chrono::Utc;
use nexus_kit::audit::{self, Actor, Entry};
use nexus_kit::error::{Code, Result, internal};
use nexus_kit::id::new_id;
use nexus_registry::submission::{self, SubmissionError};
use nexus_registry::{Registry, SubgraphSdl, compose};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

use super::publisher::Publisher;
use crate::entity::app::{self, AppStatus, PricingModel};
use crate::entity::app_version::{self, AppVersionStatus};
use crate::entity::supergraph_version;

/// One subgraph of a supergraph version (core subgraphs have no app version).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComposedSubgraph {
    pub name: String,
    pub url: String,
    pub app_version_id: Option<Uuid>,
}

pub struct Submitted {
    pub version: Option<app_version::Model>,
    pub errors: Vec<SubmissionError>,
}

/// The head supergraph version, if any has been published.
pub async fn head(db: &impl ConnectionTrait) -> Result<Option<supergraph_version::Model>> {
    supergraph_version::Entity::find()
        .order_by_desc(supergraph_version::Column::Id)
        .one(db)
        .await
        .map_err(internal)
}

/// The app versions live in the head, with their SDL.
pub async fn live_apps(
    db: &impl ConnectionTrait,
) -> Result<Vec<(app_version::Model, SubgraphSdl)>> {
    let Some(head) = head(db).await? else {
        return Ok(Vec::new());
    };
    let listed: Vec<ComposedSubgraph> = serde_json::from_value(head.subgraphs).unwrap_or_default();
    let ids: Vec<Uuid> = listed.iter().filter_map(|s| s.app_version_id).collect();
    let versions = app_version::Entity::find()
        .filter(app_version::Column::Id.is_in(ids))
        .all(db)
        .await
        .map_err(internal)?;
    Ok(versions
        .into_iter()
        .filter_map(|v| as_subgraph(&v).map(|s| (v, s)))
        .collect())
}

/// A stored version as the subgraph it contributes (none without SDL).
fn as_subgraph(version: &app_version::Model) -> Option<SubgraphSdl> {
    Some(SubgraphSdl {
        name: version.manifest.get("namespace")?.as_str()?.to_owned(),
        routing_url: version.subgraph_url.clone(),
        sdl: version.sdl.clone()?,
    })
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
        audit::append(&txn, published(crate::service_actor(), None, &first))
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
            Ok(compose(&registry.core)?)
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
    let existing = crate::service::find_app_by_namespace(db, &manifest.namespace).await?;
    let app = match existing {
        Some(app) if app.developer_id != developer => {
            return Err(Code::Forbidden.error(format!(
                "the namespace `{}` belongs to another developer's app",
                manifest.namespace
            )));
        }
        Some(app) => app,
        None => {
            let now = Utc::now();
            app::ActiveModel {
                id: Set(new_id()),
                namespace: Set(manifest.namespace.clone()),
                name: Set(manifest.name.clone()),
                description: Set(manifest.description.clone()),
                category: Set(manifest.category.trim().to_lowercase()),
                developer_id: Set(developer),
                status: Set(AppStatus::Draft),
                pricing_model: Set(pricing_model(manifest.pricing.model)),
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
            })?
        }
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

fn pricing_model(model: nexus_registry::manifest::PricingModel) -> PricingModel {
    use nexus_registry::manifest::PricingModel as M;
    match model {
        M::Free => PricingModel::Free,
        M::Paid => PricingModel::Paid,
        M::Subscription => PricingModel::Subscription,
        M::Trial => PricingModel::Trial,
    }
}

async fn find_version(db: &impl ConnectionTrait, id: Uuid) -> Result<app_version::Model> {
    app_version::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| nexus_kit::error::not_found(format!("no app version `{id}`")))
}

/// The app versions to compose with the core, in order (core subgraphs have no version).
pub(crate) type LiveSet = Vec<(Option<Uuid>, SubgraphSdl)>;

/// The head's live set, read in the publisher's transaction.
pub(crate) async fn live_set(db: &impl ConnectionTrait) -> Result<LiveSet> {
    Ok(live_apps(db)
        .await?
        .into_iter()
        .map(|(v, s)| (Some(v.id), s))
        .collect())
}

/// The supergraph of the core plus `apps`, and the list a version records; nothing is written.
fn compose_with(
    registry: &Registry,
    apps: &[(Option<Uuid>, SubgraphSdl)],
) -> Result<(String, Vec<ComposedSubgraph>)> {
    let mut subgraphs = registry.core.clone();
    subgraphs.extend(apps.iter().map(|(_, s)| s.clone()));
    let sdl = compose(&subgraphs).map_err(|e| {
        Code::Conflict.error(format!(
            "the supergraph does not compose, so nothing was published: {e}"
        ))
    })?;
    let listed = registry
        .core
        .iter()
        .map(|s| (None, s))
        .chain(apps.iter().map(|(id, s)| (*id, s)))
        .map(|(app_version_id, s)| ComposedSubgraph {
            name: s.name.clone(),
            url: s.routing_url.clone(),
            app_version_id,
        })
        .collect();
    Ok((sdl, listed))
}

/// [`compose_with`] on a blocking thread: composing takes long enough (seconds with hundreds of
/// apps, or in a debug build) to stall every request sharing a runtime worker with it.
pub(crate) async fn compose_live(
    registry: &Arc<Registry>,
    apps: LiveSet,
) -> Result<(String, Vec<ComposedSubgraph>)> {
    let registry = registry.clone();
    tokio::task::spawn_blocking(move || compose_with(&registry, &apps))
        .await
        .map_err(|e| Code::Internal.error(format!("composition stopped: {e}")))?
}

fn supergraph_row(
    sdl: &str,
    listed: Vec<ComposedSubgraph>,
    actor: Option<Uuid>,
    reason: String,
) -> supergraph_version::ActiveModel {
    supergraph_version::ActiveModel {
        id: Set(new_id()),
        sha256: Set(hex::encode(Sha256::digest(sdl.as_bytes()))),
        sdl: Set(sdl.to_owned()),
        subgraphs: Set(serde_json::to_value(listed).unwrap_or_default()),
        created_by: Set(actor),
        reason: Set(reason),
        created_at: Set(Utc::now()),
    }
}

/// Records the new head (the router is told once the transaction commits).
pub(crate) async fn record_head(
    txn: &DatabaseTransaction,
    supergraph: &str,
    listed: Vec<ComposedSubgraph>,
    admin: Uuid,
    reason: String,
) -> Result<supergraph_version::Model> {
    supergraph_row(supergraph, listed, Some(admin), reason)
        .insert(txn)
        .await
        .map_err(internal)
}

/// `supergraph.published`: `version` is the new head.
pub(crate) fn published(
    actor: Actor,
    address: Option<String>,
    version: &supergraph_version::Model,
) -> Entry {
    Entry::new("supergraph.published", actor, address)
        .target("supergraph_version", version.id)
        .details(json!({ "reason": version.reason, "sha256": version.sha256 }))
}

/// Publishers take turns across processes: writing the first version's row (it never changes)
/// before anything else is the lock. Another publisher, in any process, waits here until this one
/// commits, then reads the live set this one left. (A write first, so SQLite takes its write lock
/// here too.) In one process, `Registry::publishing` orders them before they get here.
pub(crate) async fn take_publishing_lock(txn: &DatabaseTransaction) -> Result<()> {
    use sea_orm::sea_query::{Expr, Order, Query};
    // (ORDER BY, not MIN: PostgreSQL has no MIN for UUIDs.)
    let first_version = Query::select()
        .column(supergraph_version::Column::Id)
        .from(supergraph_version::Entity)
        .order_by(supergraph_version::Column::Id, Order::Asc)
        .limit(1)
        .to_owned();
    supergraph_version::Entity::update_many()
        .col_expr(
            supergraph_version::Column::Reason,
            Expr::col(supergraph_version::Column::Reason).into(),
        )
        .filter(supergraph_version::Column::Id.in_subquery(first_version))
        .exec(txn)
        .await
        .map_err(internal)?;
    Ok(())
}

/// A change to the live set, as an admin asked for it; applied in the publisher's turn.
pub(crate) enum Change {
    /// Make this version in review the app's live one.
    Approve(Uuid),
    /// Take this app out of the supergraph.
    Suspend(Uuid),
    /// Serve this older supergraph version's apps again (suspended apps stay out).
    Rollback(Uuid),
}

/// What a change did, for the one who asked.
pub(crate) enum Changed {
    Approved(app_version::Model),
    Suspended(app::Model),
    RolledBack,
}

/// A change applied in the publisher's transaction: the live set it leaves, why, and its audit
/// entry (the head it ends in is recorded once for all the changes of a turn).
pub(crate) struct Applied {
    pub changed: Changed,
    pub live: LiveSet,
    pub reason: String,
    pub audit: Entry,
}

/// Applies `change` to `live` and writes its own rows; nothing is composed here.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    admin: Uuid,
    change: &Change,
    live: LiveSet,
    audit: Entry,
) -> Result<Applied> {
    match *change {
        Change::Approve(id) => approve_in(txn, admin, id, live, audit).await,
        Change::Suspend(app_id) => suspend_in(txn, app_id, live, audit).await,
        Change::Rollback(id) => rollback_in(txn, id, audit).await,
    }
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

async fn approve_in(
    txn: &DatabaseTransaction,
    admin: Uuid,
    id: Uuid,
    live: LiveSet,
    audit: Entry,
) -> Result<Applied> {
    let version = find_version(txn, id).await?;
    if version.status != AppVersionStatus::InReview {
        return Err(Code::Conflict.error(format!(
            "only versions in review can be approved; this one is {:?}",
            version.status
        )));
    }
    let manifest: nexus_registry::manifest::Manifest =
        serde_json::from_value(version.manifest.clone())
            .map_err(|e| Code::Internal.error(format!("stored manifest does not parse: {e}")))?;
    let sdl = version
        .sdl
        .clone()
        .ok_or_else(|| Code::Internal.error("the version has no SDL"))?;
    let mut apps: LiveSet = live
        .into_iter()
        .filter(|(_, s)| s.name != manifest.namespace)
        .collect();
    apps.push((
        Some(version.id),
        SubgraphSdl {
            name: manifest.namespace.clone(),
            routing_url: version.subgraph_url.clone(),
            sdl,
        },
    ));
    app_version::Entity::update_many()
        .col_expr(
            app_version::Column::Status,
            sea_orm::sea_query::Expr::value(AppVersionStatus::Superseded),
        )
        .filter(app_version::Column::AppId.eq(version.app_id))
        .filter(app_version::Column::Status.eq(AppVersionStatus::Approved))
        .exec(txn)
        .await
        .map_err(internal)?;
    let now = Utc::now();
    let mut approved: app_version::ActiveModel = version.clone().into();
    approved.status = Set(AppVersionStatus::Approved);
    approved.reviewed_by = Set(Some(admin));
    approved.reviewed_at = Set(Some(now));
    let approved = approved.update(txn).await.map_err(internal)?;
    nexus_kit::outbox::emit(
        txn,
        crate::NAME,
        crate::events::version("app_version.approved", &approved),
    )
    .await?;
    if let Some(app) = app::Entity::find_by_id(version.app_id)
        .one(txn)
        .await
        .map_err(internal)?
    {
        let mut app: app::ActiveModel = app.into();
        app.status = Set(AppStatus::Published);
        app.name = Set(manifest.name.clone());
        app.description = Set(manifest.description.clone());
        app.category = Set(manifest.category.trim().to_lowercase());
        app.pricing_model = Set(pricing_model(manifest.pricing.model));
        app.price_cents = Set(manifest.pricing.price_cents);
        app.currency = Set(manifest.pricing.currency.clone());
        app.trial_days = Set(manifest.pricing.trial_days);
        app.updated_at = Set(now);
        app.update(txn).await.map_err(internal)?;
    }
    let audit = audit.target("app", approved.app_id).details(json!({
        "app_version_id": approved.id,
        "namespace": manifest.namespace,
        "version": approved.version,
    }));
    Ok(Applied {
        reason: format!("approved {} {}", manifest.namespace, manifest.version),
        changed: Changed::Approved(approved),
        live: apps,
        audit,
    })
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
        crate::NAME,
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

async fn rollback_in(txn: &DatabaseTransaction, id: Uuid, audit: Entry) -> Result<Applied> {
    let target = supergraph_version::Entity::find_by_id(id)
        .one(txn)
        .await
        .map_err(internal)?
        .ok_or_else(|| nexus_kit::error::not_found(format!("no supergraph version `{id}`")))?;
    let listed: Vec<ComposedSubgraph> =
        serde_json::from_value(target.subgraphs).unwrap_or_default();
    let ids: Vec<Uuid> = listed.iter().filter_map(|s| s.app_version_id).collect();
    let versions = app_version::Entity::find()
        .filter(app_version::Column::Id.is_in(ids))
        .all(txn)
        .await
        .map_err(internal)?;
    let published: std::collections::HashSet<Uuid> = app::Entity::find()
        .filter(app::Column::Id.is_in(versions.iter().map(|v| v.app_id)))
        .filter(app::Column::Status.eq(AppStatus::Published))
        .all(txn)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|a| a.id)
        .collect();
    let live = versions
        .iter()
        .filter(|v| published.contains(&v.app_id))
        .filter_map(|v| as_subgraph(v).map(|s| (Some(v.id), s)))
        .collect();
    Ok(Applied {
        changed: Changed::RolledBack,
        live,
        reason: format!("rollback to {id}"),
        audit: audit.target("supergraph_version", id),
    })
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

async fn suspend_in(
    txn: &DatabaseTransaction,
    app_id: Uuid,
    live: LiveSet,
    audit: Entry,
) -> Result<Applied> {
    let found = app::Entity::find_by_id(app_id)
        .one(txn)
        .await
        .map_err(internal)?
        .ok_or_else(|| nexus_kit::error::not_found(format!("no app `{app_id}`")))?;
    let live = live
        .into_iter()
        .filter(|(_, s)| s.name != found.namespace)
        .collect();
    let reason = format!("suspended {}", found.namespace);
    let mut active: app::ActiveModel = found.into();
    active.status = Set(AppStatus::Suspended);
    active.updated_at = Set(Utc::now());
    let suspended = active.update(txn).await.map_err(internal)?;
    let audit = audit
        .target("app", suspended.id)
        .details(json!({ "namespace": suspended.namespace }));
    Ok(Applied {
        changed: Changed::Suspended(suspended),
        live,
        reason,
        audit,
    })
}
