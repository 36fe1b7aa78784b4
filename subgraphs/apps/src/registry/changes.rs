//! The changes to the live set an admin asks for (approve, suspend, roll back), as the publisher
//! applies them in its turn: each writes its own rows and leaves a new live set; the head they
//! end in is recorded once for all the changes of a turn.

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::error::{Code, Result, internal};
use nexus_registry::SubgraphSdl;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use crate::entity::app::{self, AppStatus};
use crate::entity::app_version::{self, AppVersionStatus};
use crate::entity::supergraph_version;
use crate::registry::live_set::{ComposedSubgraph, LiveSet, as_subgraph, find_version};

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
            sdl: sdl.clone(),
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
        crate::name::NAME,
        crate::events::version("app_version.approved", &approved),
    )
    .await?;
    crate::listing::publish(txn, version.app_id, &manifest, &sdl, now).await?;
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
    let suspended = crate::listing::suspend(txn, found).await?;
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
