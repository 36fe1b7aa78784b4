//! Installing apps: an organization's owner or admin grants scopes from what the app's live
//! manifest declares (every required one, any optional ones), uninstalls, or changes the grant.

use std::collections::BTreeSet;

use chrono::Utc;
use nexus_kit::audit::Entry;
use nexus_kit::core_client::CoreClient;
use nexus_kit::error::{Code, Result, bad_input, internal, not_found, on_conflict};
use nexus_kit::id::new_id;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::entity::app::{self, AppStatus};
use crate::entity::installation::{self, InstallationStatus};

/// The scopes the app's live (approved) version declares.
async fn declared_scopes(
    db: &DatabaseConnection,
    app_id: Uuid,
) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let live = crate::registry::versions::live_version(db, app_id)
        .await?
        .ok_or_else(|| Code::Conflict.error("this app has no approved version to install yet"))?;
    let list = |key: &str| -> BTreeSet<String> {
        live.manifest["scopes"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    Ok((list("required"), list("optional")))
}

/// `requested` (default: the required scopes) checked against the manifest.
async fn grant(
    db: &DatabaseConnection,
    app_id: Uuid,
    requested: Option<Vec<String>>,
) -> Result<Vec<String>> {
    let (required, optional) = declared_scopes(db, app_id).await?;
    let requested: BTreeSet<String> = match requested {
        Some(scopes) => scopes.into_iter().collect(),
        None => required.clone(),
    };
    let undeclared: Vec<&str> = requested
        .iter()
        .filter(|s| !required.contains(*s) && !optional.contains(*s))
        .map(String::as_str)
        .collect();
    if !undeclared.is_empty() {
        return Err(bad_input(format!(
            "the app does not ask for {}; it asks for {}",
            undeclared.join(", "),
            required
                .iter()
                .chain(optional.iter())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|s| !requested.contains(*s))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(bad_input(format!(
            "the app requires {}: grant them to install it",
            missing.join(", ")
        )));
    }
    Ok(requested.into_iter().collect())
}

/// Installs the app with the scopes `grant` allows, once its pricing allows it (see `licensing`).
/// `audit` (`installation.created`, by whom) is completed with what was installed.
pub async fn install(
    db: &DatabaseConnection,
    licensing: &CoreClient,
    app_id: Uuid,
    organization_id: Uuid,
    installed_by: Uuid,
    scopes: Option<Vec<String>>,
    audit: Entry,
) -> Result<installation::Model> {
    let granted = grant(db, app_id, scopes).await?;
    let app = crate::entity::app::Entity::find_by_id(app_id)
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no app with id `{app_id}`")))?;
    crate::license_sync::check_install(licensing, &app, organization_id).await?;
    insert_installation(
        db,
        app_id,
        organization_id,
        installed_by,
        granted,
        Some(audit),
    )
    .await
}

async fn live_installation(
    db: &DatabaseConnection,
    id: Uuid,
    organization_id: Uuid,
) -> Result<installation::Model> {
    installation::Entity::find_by_id(id)
        .filter(installation::Column::OrganizationId.eq(organization_id))
        .filter(installation::Column::Status.ne(InstallationStatus::Uninstalled))
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no installation `{id}` in your organization")))
}

/// `audit`: `installation.removed`, by whom.
pub async fn uninstall(
    db: &DatabaseConnection,
    id: Uuid,
    organization_id: Uuid,
    audit: Entry,
) -> Result<installation::Model> {
    let found = live_installation(db, id, organization_id).await?;
    let now = Utc::now();
    let txn = db.begin().await.map_err(internal)?;
    // Conditional: of two uninstalls at once, one ends it (and is announced and recorded).
    if !end(&txn, found.id, now).await.map_err(internal)? {
        return Err(not_found(format!(
            "no installation `{id}` in your organization"
        )));
    }
    let updated = installation::Model {
        status: InstallationStatus::Uninstalled,
        updated_at: now,
        ..found
    };
    // Users' sign-ins through the installation end with it.
    crate::oauth::grants::revoke_for_installation(&txn, updated.id).await?;
    nexus_kit::outbox::emit(
        &txn,
        crate::name::NAME,
        crate::events::installation("app.uninstalled", &updated),
    )
    .await?;
    let entry = audit
        .in_organization(organization_id)
        .target("installation", updated.id)
        .details(json!({ "app_id": updated.app_id }));
    nexus_kit::audit::record(&txn, entry).await?;
    txn.commit().await.map_err(internal)?;
    Ok(updated)
}

/// Marks the installation uninstalled unless it already is; whether this call did.
async fn end<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: chrono::DateTime<Utc>,
) -> std::result::Result<bool, sea_orm::DbErr> {
    let ended = installation::Entity::update_many()
        .col_expr(
            installation::Column::Status,
            sea_orm::sea_query::Expr::value(InstallationStatus::Uninstalled),
        )
        .col_expr(
            installation::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(installation::Column::Id.eq(id))
        .filter(installation::Column::Status.ne(InstallationStatus::Uninstalled))
        .exec(conn)
        .await?;
    Ok(ended.rows_affected == 1)
}

/// Ends every installation of a deleted organization (`app.uninstalled` each) with `conn`: the
/// webhook fan-out does this in the transaction that takes `organization.deleted` from the
/// outbox, so it happens once, and after the apps installed there were told of the deletion.
/// Returns the installations it ended (the fan-out audits them once its own writes are done).
pub async fn end_in_deleted_organization<C: sea_orm::ConnectionTrait>(
    conn: &C,
    organization_id: Uuid,
) -> std::result::Result<Vec<installation::Model>, sea_orm::DbErr> {
    let live = installation::Entity::find()
        .filter(installation::Column::OrganizationId.eq(organization_id))
        .filter(installation::Column::Status.ne(InstallationStatus::Uninstalled))
        .all(conn)
        .await?;
    let now = Utc::now();
    let mut ended_here = Vec::new();
    for found in &live {
        let mut ended = found.clone();
        ended.status = InstallationStatus::Uninstalled;
        ended.updated_at = now;
        if end(conn, found.id, now).await? {
            crate::oauth::grants::revoke_for_installation(conn, found.id)
                .await
                .map_err(|e| sea_orm::DbErr::Custom(e.message))?;
            nexus_kit::outbox::record(
                conn,
                crate::name::NAME,
                crate::events::installation("app.uninstalled", &ended),
            )
            .await?;
            ended_here.push(ended);
        }
    }
    Ok(ended_here)
}

/// `audit`: `installation.scopes_changed`, by whom; appended only if the scopes change.
pub async fn update_scopes(
    db: &DatabaseConnection,
    id: Uuid,
    organization_id: Uuid,
    scopes: Vec<String>,
    audit: Entry,
) -> Result<installation::Model> {
    let found = live_installation(db, id, organization_id).await?;
    let granted = grant(db, found.app_id, Some(scopes)).await?;
    let before: BTreeSet<String> = found.scopes().into_iter().collect();
    let changed = before.iter().ne(granted.iter());
    let mut active: installation::ActiveModel = found.into();
    active.granted_scopes = Set(serde_json::json!(granted));
    active.updated_at = Set(Utc::now());
    let txn = db.begin().await.map_err(internal)?;
    let updated = active.update(&txn).await.map_err(internal)?;
    nexus_kit::outbox::emit(
        &txn,
        crate::name::NAME,
        crate::events::installation("installation.scopes_updated", &updated),
    )
    .await?;
    if changed {
        let entry = audit
            .in_organization(organization_id)
            .target("installation", updated.id)
            .details(json!({ "app_id": updated.app_id, "before": before, "after": granted }));
        nexus_kit::audit::record(&txn, entry).await?;
    }
    txn.commit().await.map_err(internal)?;
    Ok(updated)
}

/// The live (active) installation of the app `app_id` in `organization_id`, if any.
pub async fn for_app(
    db: &DatabaseConnection,
    app_id: Uuid,
    organization_id: Uuid,
) -> Result<Option<installation::Model>> {
    installation::Entity::find()
        .filter(installation::Column::AppId.eq(app_id))
        .filter(installation::Column::OrganizationId.eq(organization_id))
        .filter(installation::Column::Status.eq(InstallationStatus::Active))
        .one(db)
        .await
        .map_err(internal)
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
