use async_graphql::{Context, ID, InputObject, Object};
use nexus_kit::Result;
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;

use super::types::{App, Installation};
use crate::entity::app::{AppStatus, PricingModel};
use crate::service::{self, NewApp, Pricing};

#[derive(InputObject)]
pub struct PricingInput {
    pub model: PricingModel,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub trial_days: Option<i32>,
}

#[derive(InputObject)]
pub struct CreateAppInput {
    /// 2 to 32 lowercase letters and digits; unique across apps.
    pub namespace: String,
    pub name: String,
    #[graphql(default)]
    pub description: String,
    pub category: String,
    pub developer_id: ID,
    #[graphql(default_with = "AppStatus::Draft")]
    pub status: AppStatus,
    pub pricing: Option<PricingInput>,
}

#[derive(InputObject)]
pub struct CreateInstallationInput {
    pub app_id: ID,
    pub organization_id: ID,
    pub installed_by: ID,
    #[graphql(default)]
    pub scopes: Vec<String>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    async fn create_app(&self, ctx: &Context<'_>, input: CreateAppInput) -> Result<App> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let pricing = input.pricing.map_or_else(Pricing::free, |p| Pricing {
            model: p.model,
            price_cents: p.price_cents,
            currency: p.currency,
            trial_days: p.trial_days,
        });
        let new = NewApp {
            namespace: input.namespace,
            name: input.name,
            description: input.description,
            category: input.category,
            developer_id: parse_id(&input.developer_id, "user")?,
            status: input.status,
            pricing,
        };
        service::create_app(db, new).await.map(App)
    }

    async fn create_installation(
        &self,
        ctx: &Context<'_>,
        input: CreateInstallationInput,
    ) -> Result<Installation> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        service::create_installation(
            db,
            parse_id(&input.app_id, "app")?,
            parse_id(&input.organization_id, "organization")?,
            parse_id(&input.installed_by, "user")?,
            input.scopes,
        )
        .await
        .map(Installation)
    }
}
