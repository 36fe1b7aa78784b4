//! The transactional outbox: a service records an event with the same connection — the same
//! transaction — as the change it describes, so a change that rolls back records nothing and one
//! that commits is never lost. The apps service's webhook dispatcher drains the table
//! (`nexus_apps::webhooks`). Names come from `nexus_protocol::events::CATALOG`.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde_json::Value;
use uuid::Uuid;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The service that recorded it.
        pub source: String,
        pub event_type: String,
        pub organization_id: Option<Uuid>,
        /// The app the event is about (installations, versions, licenses).
        pub app_id: Option<Uuid>,
        pub data: Json,
        pub created_at: DateTimeUtc,
        pub dispatched_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One event, about an organization (`organization`) and/or an app (`app`).
#[derive(Clone, Debug)]
pub struct Event {
    pub event_type: &'static str,
    pub organization: Option<Uuid>,
    pub app: Option<Uuid>,
    pub data: Value,
}

impl Event {
    pub fn new(event_type: &'static str, data: Value) -> Event {
        debug_assert!(
            nexus_protocol::events::find(event_type).is_some(),
            "{event_type} is not in the catalog"
        );
        Event {
            event_type,
            organization: None,
            app: None,
            data,
        }
    }

    pub fn in_organization(mut self, organization: Uuid) -> Event {
        self.organization = Some(organization);
        self
    }

    pub fn for_app(mut self, app: Uuid) -> Event {
        self.app = Some(app);
        self
    }
}

static RECORDING: AtomicBool = AtomicBool::new(true);

/// Turns recording off (or on again) for the whole process. Only the benchmark does this, to
/// measure what recording costs the mutations side by side (`nexus-load --suite outbox`); with
/// it off, no event is recorded and no webhook is sent.
pub fn set_recording(on: bool) {
    RECORDING.store(on, Ordering::Relaxed);
}

/// `record` for a service's resolvers: a database error is the `INTERNAL` error (logged).
pub async fn emit<C: ConnectionTrait>(
    conn: &C,
    source: &'static str,
    event: Event,
) -> crate::error::Result<()> {
    record(conn, source, event)
        .await
        .map(|_| ())
        .map_err(crate::error::internal)
}

/// Records `event`, from the service `source`, with `conn`: pass the transaction of the change.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    source: &'static str,
    event: Event,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    if !RECORDING.load(Ordering::Relaxed) {
        return Ok(id);
    }
    // One statement: nothing is read back (an ActiveModel's insert reads the row back on SQLite).
    entity::Entity::insert(entity::ActiveModel {
        id: Set(id),
        source: Set(source.to_owned()),
        event_type: Set(event.event_type.to_owned()),
        organization_id: Set(event.organization),
        app_id: Set(event.app),
        data: Set(event.data),
        created_at: Set(Utc::now()),
        dispatched_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(id)
}
