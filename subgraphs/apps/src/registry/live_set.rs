//! The live set: the app versions composed with the core into the head supergraph, how it is
//! composed (off the async threads) and recorded as a new head, and the lock publishers take
//! turns on. Read by everyone; written only by the publisher (`publisher`, `changes`).

use chrono::Utc;
use nexus_kit::audit::{Actor, Entry};
use nexus_kit::error::{Code, Result, internal};
use nexus_kit::id::new_id;
use nexus_registry::{Registry, SubgraphSdl};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

use crate::entity::app_version::{self};
use crate::entity::supergraph_version;

/// One subgraph of a supergraph version (core subgraphs have no app version).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComposedSubgraph {
    pub name: String,
    pub url: String,
    pub app_version_id: Option<Uuid>,
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
pub(crate) fn as_subgraph(version: &app_version::Model) -> Option<SubgraphSdl> {
    Some(SubgraphSdl {
        name: version.manifest.get("namespace")?.as_str()?.to_owned(),
        routing_url: version.subgraph_url.clone(),
        sdl: version.sdl.clone()?,
    })
}

pub(crate) async fn find_version(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<app_version::Model> {
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
pub(crate) fn compose_with(
    registry: &Registry,
    apps: &[(Option<Uuid>, SubgraphSdl)],
) -> Result<(String, Vec<ComposedSubgraph>)> {
    let subgraphs: Vec<SubgraphSdl> = apps.iter().map(|(_, s)| s.clone()).collect();
    let sdl = registry.compose(&subgraphs).map_err(|e| {
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

pub(crate) fn supergraph_row(
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
