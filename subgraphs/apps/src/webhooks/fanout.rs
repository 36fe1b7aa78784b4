//! Who gets what: drains the outbox into one delivery per (event, subscribed app), in the same
//! transaction that marks the events dispatched — so an event is fanned out once, whichever of
//! several workers takes it (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer).
//!
//! An event about an organization reaches each app installed (active) there whose live manifest
//! subscribes to it and whose granted scopes cover it (`nexus_protocol::events::Audience`); an
//! event about an app reaches that app. Nothing about an organization reaches an app that is not
//! installed there. Each delivery gets the next `sequence` of its (app, organization).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use nexus_kit::audit::{self, Entry};
use nexus_kit::outbox::entity as outbox;
use nexus_protocol::events::{self, Audience};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::entity::{delivery, endpoint, sequence};
use super::subscriptions::Subscriptions;
use crate::entity::installation::{self, InstallationStatus};

/// Fans out up to `batch` events; returns how many it took.
pub async fn run(db: &DatabaseConnection, batch: u64) -> Result<usize, DbErr> {
    let txn = nexus_kit::db::begin_writing(db).await?;
    let taken = outbox::Entity::find()
        .filter(outbox::Column::DispatchedAt.is_null())
        .order_by_asc(outbox::Column::CreatedAt)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if taken.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    create_deliveries(&txn, &taken, None).await?;
    // A deleted organization's installations end here, once: identity cannot write them.
    let mut ended = Vec::new();
    for deleted in taken
        .iter()
        .filter(|e| e.event_type == "organization.deleted")
    {
        if let Some(organization) = deleted.organization_id {
            ended.extend(
                crate::installations::end_in_deleted_organization(&txn, organization).await?,
            );
        }
    }
    // An account's sessions ended (identity's word): the OAuth grants signed in before go too.
    let mut revoked = Vec::new();
    for ended in taken
        .iter()
        .filter(|e| e.event_type == events::USER_SESSIONS_ENDED)
    {
        let user = ended.data["user_id"]
            .as_str()
            .and_then(|u| Uuid::parse_str(u).ok());
        if let (Some(user), Some(epoch)) = (user, ended.data["session_epoch"].as_i64()) {
            let grants = crate::oauth::grants::revoke_signed_in_before(&txn, user, epoch)
                .await
                .map_err(|e| DbErr::Custom(e.message))?;
            if !grants.is_empty() {
                revoked.push((user, grants));
            }
        }
    }
    let now = Utc::now();
    outbox::Entity::update_many()
        .col_expr(outbox::Column::DispatchedAt, Expr::value(now))
        .filter(outbox::Column::Id.is_in(taken.iter().map(|e| e.id)))
        .exec(&txn)
        .await?;
    // Last: appending holds the audit chain's lock until commit.
    for (user, grants) in revoked {
        let entry = Entry::new("oauth.grants_revoked", crate::name::service_actor(), None)
            .target("user", user)
            .details(json!({ "grants": grants, "reason": "every session of the account ended" }));
        audit::append(&txn, entry).await?;
    }
    for installation in ended {
        let entry = Entry::new("installation.removed", crate::name::service_actor(), None)
            .in_organization(installation.organization_id)
            .target("installation", installation.id)
            .details(json!({ "app_id": installation.app_id, "reason": "organization deleted" }));
        audit::append(&txn, entry).await?;
    }
    txn.commit().await?;
    Ok(taken.len())
}

/// One delivery per (event, app that may hear it) — to `only` that app, if given (a replay: only
/// that app's installations and subscription are read, and an organization's events go to it
/// only where it is installed now). An event that already reached an app is not delivered to it
/// again.
pub async fn create_deliveries<C: ConnectionTrait>(
    conn: &C,
    events: &[outbox::Model],
    only: Option<Uuid>,
) -> Result<usize, DbErr> {
    let mut planned = plan(conn, events, only).await?;
    // Replays ask again for events that reached some apps already.
    let mut delivered: BTreeSet<(Uuid, Uuid)> = BTreeSet::new();
    for chunk in events.chunks(IN_LIST_CHUNK) {
        let mut query = delivery::Entity::find()
            .filter(delivery::Column::EventId.is_in(chunk.iter().map(|e| e.id)));
        if let Some(app) = only {
            query = query.filter(delivery::Column::AppId.eq(app));
        }
        delivered.extend(
            query
                .all(conn)
                .await?
                .into_iter()
                .map(|d| (d.event_id, d.app_id)),
        );
    }
    planned.retain(|(event, recipient)| !delivered.contains(&(event.id, recipient.app)));
    let sequences = allocate_sequences(conn, &planned).await?;
    let now = Utc::now();
    let mut next: BTreeMap<(Uuid, Uuid), i64> = sequences;
    let mut rows = Vec::with_capacity(planned.len());
    for (event, recipient) in &planned {
        let key = (recipient.app, event.organization_id.unwrap_or_default());
        let sequence = next.get_mut(&key).map_or(0, |n| {
            *n += 1;
            *n
        });
        let body = json!({
            "type": event.event_type,
            "timestamp": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": event.data,
            "organization_id": event.organization_id,
            "installation_id": recipient.installation,
            "sequence": sequence,
        });
        rows.push(delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            event_id: Set(event.id),
            app_id: Set(recipient.app),
            organization_id: Set(event.organization_id),
            installation_id: Set(recipient.installation),
            event_type: Set(event.event_type.clone()),
            sequence: Set(sequence),
            body: Set(body.to_string()),
            status: Set(delivery::Status::Pending),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            leased_until: Set(None),
            created_at: Set(now),
            delivered_at: Set(None),
        });
    }
    for chunk in rows.chunks(500) {
        delivery::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([delivery::Column::EventId, delivery::Column::AppId])
                    .do_nothing()
                    .to_owned(),
            )
            .do_nothing()
            .exec(conn)
            .await?;
    }
    Ok(planned.len())
}

#[derive(Clone, Copy, Debug)]
struct Recipient {
    app: Uuid,
    installation: Option<Uuid>,
}

/// Ids per `IN (…)` list: far below SQLite's and PostgreSQL's limits on bound values.
const IN_LIST_CHUNK: usize = 500;

/// Each event with the apps it goes to (`only` that app, if given, installed there now).
async fn plan<'e, C: ConnectionTrait>(
    conn: &C,
    taken: &'e [outbox::Model],
    only: Option<Uuid>,
) -> Result<Vec<(&'e outbox::Model, Recipient)>, DbErr> {
    let organizations: Vec<Uuid> = taken
        .iter()
        .filter_map(|e| e.organization_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut installations = Vec::new();
    for chunk in organizations.chunks(IN_LIST_CHUNK) {
        let mut query = installation::Entity::find()
            .filter(installation::Column::OrganizationId.is_in(chunk.iter().copied()));
        if let Some(app) = only {
            query = query.filter(installation::Column::AppId.eq(app));
        }
        installations.extend(query.all(conn).await?);
    }
    let mut apps: BTreeSet<Uuid> = taken.iter().filter_map(|e| e.app_id).collect();
    apps.extend(installations.iter().map(|i| i.app_id));
    if let Some(app) = only {
        apps.retain(|a| *a == app);
    }
    let subscribed = subscriptions(conn, &apps).await?;
    let history = History::load(conn, &organizations, taken, only).await?;

    let mut planned = Vec::new();
    for event in taken {
        let Some(kind) = events::find(&event.event_type) else {
            tracing::warn!(event_type = %event.event_type, "an event outside the catalog; not sent");
            continue;
        };
        let wants = |app: Uuid| subscribed.get(&app).is_some_and(|s| s.wants(kind.name));
        match kind.audience {
            Audience::TheApp => {
                let Some(app) = event
                    .app_id
                    .filter(|app| wants(*app) && only.is_none_or(|only| only == *app))
                else {
                    continue;
                };
                let installation = event.organization_id.and_then(|org| {
                    installations
                        .iter()
                        .filter(|i| i.app_id == app && i.organization_id == org)
                        .max_by_key(|i| (i.status == InstallationStatus::Active, i.updated_at))
                        .map(|i| i.id)
                });
                planned.push((event, Recipient { app, installation }));
            }
            Audience::Platform => {}
            Audience::Granted(scope) => {
                let Some(org) = event.organization_id else {
                    continue;
                };
                for installed in installations.iter().filter(|i| {
                    i.organization_id == org
                        && wants(i.app_id)
                        && history.granted_at(i, event.created_at, scope)
                        // A replay sends nothing to an organization that uninstalled the app.
                        && (only.is_none() || i.status == InstallationStatus::Active)
                }) {
                    planned.push((
                        event,
                        Recipient {
                            app: installed.app_id,
                            installation: Some(installed.id),
                        },
                    ));
                }
            }
        }
    }
    Ok(planned)
}

/// What the installations of the events' organizations were when: their own events
/// (`app.installed`, `installation.*`, `app.uninstalled`) carry their status and scopes, so an
/// event is judged by the grant in force when it happened, not when it is fanned out.
struct History {
    by_installation: BTreeMap<Uuid, Vec<Grant>>,
}

/// An installation's state from one of its events on.
struct Grant {
    since: chrono::DateTime<Utc>,
    active: bool,
    scopes: Vec<String>,
}

const INSTALLATION_EVENTS: [&str; 5] = [
    "app.installed",
    "app.uninstalled",
    "installation.scopes_updated",
    "installation.suspended",
    "installation.resumed",
];

impl History {
    /// The installation events of `organizations` up to the newest of `taken` (`only` that app's).
    async fn load<C: ConnectionTrait>(
        conn: &C,
        organizations: &[Uuid],
        taken: &[outbox::Model],
        only: Option<Uuid>,
    ) -> Result<History, DbErr> {
        let latest = taken
            .iter()
            .map(|e| e.created_at)
            .max()
            .unwrap_or_else(Utc::now);
        let mut events = Vec::new();
        for chunk in organizations.chunks(IN_LIST_CHUNK) {
            let mut query = outbox::Entity::find()
                .filter(outbox::Column::OrganizationId.is_in(chunk.iter().copied()))
                .filter(outbox::Column::EventType.is_in(INSTALLATION_EVENTS))
                .filter(outbox::Column::CreatedAt.lte(latest));
            if let Some(app) = only {
                query = query.filter(outbox::Column::AppId.eq(app));
            }
            events.extend(query.all(conn).await?);
        }
        events.sort_by_key(|e| e.created_at);
        let mut by_installation: BTreeMap<Uuid, Vec<_>> = BTreeMap::new();
        for event in events {
            let Some(id) = event.data["installation_id"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            let active = event.data["status"] == "active";
            let scopes = serde_json::from_value(event.data["scopes"].clone()).unwrap_or_default();
            by_installation.entry(id).or_default().push(Grant {
                since: event.created_at,
                active,
                scopes,
            });
        }
        Ok(History { by_installation })
    }

    /// Whether `installation` was active at `at` with `scope` granted. Without a recorded state
    /// before `at` (it predates the outbox, or was pruned): installed before `at` and active
    /// now, or changed only after `at`, with its scopes of now.
    fn granted_at(
        &self,
        installation: &installation::Model,
        at: chrono::DateTime<Utc>,
        scope: &str,
    ) -> bool {
        let recorded = self
            .by_installation
            .get(&installation.id)
            .and_then(|grants| grants.iter().rev().find(|g| g.since <= at));
        match recorded {
            Some(grant) => grant.active && grant.scopes.iter().any(|s| s == scope),
            None => {
                installation.created_at <= at
                    && (installation.status == InstallationStatus::Active
                        || installation.updated_at >= at)
                    && installation.scopes().iter().any(|s| s == scope)
            }
        }
    }
}

/// The live subscriptions of `apps` whose endpoint is not disabled.
async fn subscriptions<C: ConnectionTrait>(
    conn: &C,
    apps: &BTreeSet<Uuid>,
) -> Result<BTreeMap<Uuid, Subscriptions>, DbErr> {
    if apps.is_empty() {
        return Ok(BTreeMap::new());
    }
    let disabled: BTreeSet<Uuid> = endpoint::Entity::find()
        .filter(endpoint::Column::AppId.is_in(apps.iter().copied()))
        .filter(endpoint::Column::DisabledAt.is_not_null())
        .all(conn)
        .await?
        .into_iter()
        .map(|e| e.app_id)
        .collect();
    let mut live = super::subscriptions::live(conn, apps.iter().copied()).await?;
    // A disabled endpoint misses events (a replay brings them), but for the notice that it was
    // disabled: that one waits for it.
    for (app, subscriptions) in live.iter_mut() {
        subscriptions.only_notices = disabled.contains(app);
    }
    Ok(live)
}

/// Reserves, per (app, organization), as many sequence numbers as `planned` needs, in key order
/// (so two workers never wait on each other's rows in opposite orders); returns each key's last
/// number before the reservation.
async fn allocate_sequences<C: ConnectionTrait>(
    conn: &C,
    planned: &[(&outbox::Model, Recipient)],
) -> Result<BTreeMap<(Uuid, Uuid), i64>, DbErr> {
    let mut counts: BTreeMap<(Uuid, Uuid), i64> = BTreeMap::new();
    for (event, recipient) in planned {
        *counts
            .entry((recipient.app, event.organization_id.unwrap_or_default()))
            .or_default() += 1;
    }
    let mut before = BTreeMap::new();
    for ((app, organization), count) in counts {
        sequence::Entity::insert(sequence::ActiveModel {
            app_id: Set(app),
            organization_id: Set(organization),
            last: Set(count),
        })
        .on_conflict(
            OnConflict::columns([sequence::Column::AppId, sequence::Column::OrganizationId])
                .value(
                    sequence::Column::Last,
                    Expr::col((sequence::Entity, sequence::Column::Last)).add(count),
                )
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        let last = sequence::Entity::find_by_id((app, organization))
            .one(conn)
            .await?
            .map_or(count, |s| s.last);
        before.insert((app, organization), last - count);
    }
    Ok(before)
}
