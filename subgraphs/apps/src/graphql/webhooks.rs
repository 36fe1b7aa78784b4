//! The developer's view of their webhooks: deliveries with their attempts, the endpoint's state,
//! and what they may do about it (redeliver, replay, test, rotate the secret, enable). The app's
//! developer and platform admins only.

use std::collections::BTreeMap;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::audit::Entry;
use nexus_kit::auth::caller;
use nexus_kit::error::{Code, bad_input, internal, not_found};
use nexus_kit::id::{parse_id, to_id};
use nexus_kit::page::{PageArgs, fetch_page_newest_first};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::app;
use crate::webhooks::entity::{attempt, delivery, endpoint};
use crate::webhooks::{endpoints, operations};

/// The key the endpoints' secrets are sealed with (`crate::schema` puts it in).
fn secrets<'a>(ctx: &Context<'a>) -> &'a nexus_kit::secret_box::SecretBox {
    ctx.data_unchecked::<std::sync::Arc<nexus_kit::secret_box::SecretBox>>()
}

/// How often an app may replay its webhooks.
const REPLAY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The app's developer or a platform admin may manage its webhooks.
pub async fn require_manager(ctx: &Context<'_>, app_id: Uuid) -> Result<app::Model> {
    let caller = caller(ctx);
    let found = nexus_kit::loader::load::<app::Entity>(ctx, app_id).await?;
    match found {
        Some(app) if caller.is_platform_admin() || caller.user_id() == Some(app.developer_id) => {
            Ok(app)
        }
        _ => Err(Code::Forbidden.error("an app's webhooks are managed by its developer")),
    }
}

/// One attempt to deliver.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    pub at: DateTime<Utc>,
    /// The endpoint's HTTP status; null when it did not answer.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// The first kilobyte of the answer.
    pub response_excerpt: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
}

/// One event sent to the app: the same `webhook-id` on every attempt.
pub struct WebhookDelivery {
    pub model: delivery::Model,
    pub attempts: Vec<attempt::Model>,
}

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        to_id(self.model.id)
    }

    /// The `webhook-id` header the endpoint receives.
    async fn webhook_id(&self) -> String {
        self.model.webhook_id()
    }

    async fn event_type(&self) -> &str {
        &self.model.event_type
    }

    async fn status(&self) -> delivery::Status {
        self.model.status
    }

    async fn sequence(&self) -> i64 {
        self.model.sequence
    }

    async fn organization_id(&self) -> Option<ID> {
        self.model.organization_id.map(to_id)
    }

    async fn installation_id(&self) -> Option<ID> {
        self.model.installation_id.map(to_id)
    }

    /// The JSON body sent.
    async fn payload(&self) -> &str {
        &self.model.body
    }

    async fn attempts(&self) -> Vec<WebhookAttempt> {
        self.attempts
            .iter()
            .map(|a| WebhookAttempt {
                at: a.attempted_at,
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                response_excerpt: a.response_excerpt.clone(),
                error: a.error.clone(),
            })
            .collect()
    }

    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.model.next_attempt_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.model.delivered_at
    }
}

/// Whether the app's endpoint is receiving.
#[derive(SimpleObject)]
pub struct WebhookEndpoint {
    pub enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled (410 Gone, or failing for days).
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until then the secret before the last rotation signs too.
    pub previous_secret_until: Option<DateTime<Utc>>,
}

impl From<endpoint::Model> for WebhookEndpoint {
    fn from(e: endpoint::Model) -> Self {
        WebhookEndpoint {
            enabled: e.disabled_at.is_none(),
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            previous_secret_until: e.previous_secret_until.filter(|until| *until > Utc::now()),
        }
    }
}

pub async fn endpoint_of(ctx: &Context<'_>, app_id: Uuid) -> Result<Option<WebhookEndpoint>> {
    require_manager(ctx, app_id).await?;
    let db = ctx.data_unchecked::<DatabaseConnection>();
    Ok(endpoint::Entity::find_by_id(app_id)
        .one(db)
        .await
        .map_err(internal)?
        .map(WebhookEndpoint::from))
}

/// The app's deliveries, newest first.
pub async fn deliveries_of(
    ctx: &Context<'_>,
    app_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    status: Option<delivery::Status>,
    event_type: Option<String>,
) -> Result<Connection<String, WebhookDelivery>> {
    require_manager(ctx, app_id).await?;
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let args = PageArgs::parse(first, after)?;
    let mut query = delivery::Entity::find().filter(delivery::Column::AppId.eq(app_id));
    if let Some(status) = status {
        query = query.filter(delivery::Column::Status.eq(status));
    }
    if let Some(event_type) = event_type {
        query = query.filter(delivery::Column::EventType.eq(event_type));
    }
    let page = fetch_page_newest_first(db, query, delivery::Column::Id, &args)
        .await
        .map_err(internal)?;
    let mut attempts: BTreeMap<Uuid, Vec<attempt::Model>> = BTreeMap::new();
    if !page.items.is_empty() {
        for a in attempt::Entity::find()
            .filter(attempt::Column::DeliveryId.is_in(page.items.iter().map(|d| d.id)))
            .order_by_asc(attempt::Column::AttemptedAt)
            .all(db)
            .await
            .map_err(internal)?
        {
            attempts.entry(a.delivery_id).or_default().push(a);
        }
    }
    Ok(page.into_connection(
        |d| d.id,
        |d| WebhookDelivery {
            attempts: attempts.get(&d.id).cloned().unwrap_or_default(),
            model: d,
        },
    ))
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Sends a delivery again now, with the same `webhook-id` (receivers deduplicate by it).
    async fn redeliver_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookDelivery> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let id = parse_id(&id, "webhook delivery")?;
        let found = delivery::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no webhook delivery `{id}`")))?;
        require_manager(ctx, found.app_id).await?;
        operations::redeliver(db, id).await.map_err(internal)?;
        let model = delivery::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(internal)?
            .unwrap_or(found);
        Ok(WebhookDelivery {
            model,
            attempts: Vec::new(),
        })
    }

    /// Every event of `[since, until)` to the app again: failed deliveries are retried, events it
    /// missed while its endpoint was disabled are sent — only from organizations where it is
    /// installed now. One replay per app per minute, at most 10,000 events. Returns how many are
    /// on their way.
    async fn replay_webhooks(
        &self,
        ctx: &Context<'_>,
        app_id: ID,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<i32> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let app_id = parse_id(&app_id, "app")?;
        require_manager(ctx, app_id).await?;
        let until = until.unwrap_or_else(Utc::now);
        if since >= until {
            return Err(bad_input("`since` must be before `until`"));
        }
        // Only an app with a live version sending webhooks has anything to replay.
        let live = crate::webhooks::subscriptions::live(db, [app_id])
            .await
            .map_err(internal)?;
        if !live.contains_key(&app_id) {
            return Err(Code::Conflict.error(
                "the app has no live (approved) version with a webhook endpoint: nothing to replay",
            ));
        }
        let endpoint = endpoints::ensure(db, secrets(ctx), app_id)
            .await
            .map_err(internal)?;
        if endpoint.disabled_at.is_some() {
            return Err(Code::Conflict.error(
                "the endpoint is disabled: enable it (enableWebhookEndpoint) before replaying",
            ));
        }
        if let Err(wait) = operations::claim_replay(db, app_id, REPLAY_INTERVAL)
            .await
            .map_err(internal)?
        {
            return Err(nexus_kit::rate_limit::rate_limited(
                "one replay per app per minute",
                wait,
            ));
        }
        let audit = Entry::by(ctx, "webhooks.replayed").target("app", app_id);
        match operations::replay(db, app_id, since, until, audit).await {
            Ok(count) => Ok(i32::try_from(count).unwrap_or(i32::MAX)),
            Err(operations::ReplayRefused::TooMany) => Err(bad_input(format!(
                "more than {} events in that window: replay a shorter one",
                operations::MAX_REPLAYED_EVENTS
            ))),
            Err(operations::ReplayRefused::Db(e)) => Err(internal(e)),
        }
    }

    /// A `webhook.test` event to the app's endpoint.
    async fn send_test_webhook(&self, ctx: &Context<'_>, app_id: ID) -> Result<WebhookDelivery> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let app_id = parse_id(&app_id, "app")?;
        require_manager(ctx, app_id).await?;
        let model = operations::send_test(db, app_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                Code::Conflict.error(
                    "the app's live version declares no webhook endpoint, or the endpoint is disabled",
                )
            })?;
        Ok(WebhookDelivery {
            model,
            attempts: Vec::new(),
        })
    }

    /// A new signing secret (`whsec_…`), shown once: store it now. The previous one keeps signing
    /// beside it for 24 hours, so receivers can switch without missing a delivery.
    async fn rotate_webhook_secret(&self, ctx: &Context<'_>, app_id: ID) -> Result<String> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let app_id = parse_id(&app_id, "app")?;
        require_manager(ctx, app_id).await?;
        let txn = nexus_kit::db::begin_writing(db).await.map_err(internal)?;
        let secret = endpoints::rotate(&txn, secrets(ctx), app_id)
            .await
            .map_err(internal)?;
        let entry = Entry::by(ctx, "webhook_endpoint.secret_rotated").target("app", app_id);
        nexus_kit::audit::record(&txn, entry).await?;
        txn.commit().await.map_err(internal)?;
        Ok(secret)
    }

    /// Enables a disabled endpoint: its pending deliveries resume.
    async fn enable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        app_id: ID,
    ) -> Result<WebhookEndpoint> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let app_id = parse_id(&app_id, "app")?;
        require_manager(ctx, app_id).await?;
        let txn = nexus_kit::db::begin_writing(db).await.map_err(internal)?;
        let enabled = endpoints::enable(&txn, secrets(ctx), app_id)
            .await
            .map_err(internal)?;
        let entry = Entry::by(ctx, "webhook_endpoint.enabled").target("app", app_id);
        nexus_kit::audit::record(&txn, entry).await?;
        txn.commit().await.map_err(internal)?;
        Ok(WebhookEndpoint::from(enabled))
    }
}
