//! The webhook tables (`migrations`' `m20261201_000008_webhooks`).

pub mod endpoint {
    use sea_orm::entity::prelude::*;

    /// An app's webhook endpoint: its signing secret and whether it is enabled. The URL is the
    /// live manifest's (`webhooks.endpoint`), so a new version can move it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub app_id: Uuid,
        pub secret: String,
        /// The secret before the last rotation, still signed with until `previous_secret_until`.
        pub previous_secret: Option<String>,
        pub previous_secret_until: Option<DateTimeUtc>,
        /// The first failure since the last success.
        pub failing_since: Option<DateTimeUtc>,
        pub disabled_at: Option<DateTimeUtc>,
        pub disabled_reason: Option<String>,
        pub created_at: DateTimeUtc,
        /// The app's last replay (`replayWebhooks`): one per app per interval.
        pub replayed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(
        Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, async_graphql::Enum,
    )]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    #[graphql(name = "WebhookDeliveryStatus")]
    pub enum Status {
        /// Waiting for its next attempt.
        #[sea_orm(string_value = "pending")]
        Pending,
        /// Answered 2xx.
        #[sea_orm(string_value = "delivered")]
        Delivered,
        /// Every attempt failed, or the endpoint answered 410 Gone.
        #[sea_orm(string_value = "failed")]
        Failed,
    }

    /// One event for one app: the same `webhook-id` and body on every attempt.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub event_id: Uuid,
        pub app_id: Uuid,
        pub organization_id: Option<Uuid>,
        pub installation_id: Option<Uuid>,
        pub event_type: String,
        pub sequence: i64,
        pub body: String,
        pub status: Status,
        pub attempts: i32,
        pub next_attempt_at: Option<DateTimeUtc>,
        /// A worker holds it until then; after a crash another takes it over.
        pub leased_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }

    impl Model {
        /// The `webhook-id` header.
        pub fn webhook_id(&self) -> String {
            format!("msg_{}", self.id.simple())
        }
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attempt {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub delivery_id: Uuid,
        pub attempted_at: DateTimeUtc,
        pub status_code: Option<i32>,
        pub latency_ms: i32,
        /// The first kilobyte of the answer.
        pub response_excerpt: Option<String>,
        /// Why no answer came (timeout, refused address, connection error).
        pub error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sequence {
    use sea_orm::entity::prelude::*;

    /// The last `sequence` given to an (app, organization); the nil UUID for no organization.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_sequences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub app_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: Uuid,
        pub last: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
