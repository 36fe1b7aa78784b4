use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use nexus_kit::Result;
use nexus_kit::id::parse_id;
use sea_orm::DatabaseConnection;

use super::types::License;
use crate::entity::license::LicenseKind;
use crate::service::{self, NewLicense};

#[derive(InputObject)]
pub struct CreateLicenseInput {
    pub app_id: ID,
    pub organization_id: ID,
    pub kind: LicenseKind,
    #[graphql(default = 1)]
    pub max_activations: i32,
    /// Required for trial and subscription licenses.
    pub expires_at: Option<DateTime<Utc>>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Issues a license (platform admins).
    async fn create_license(
        &self,
        ctx: &Context<'_>,
        input: CreateLicenseInput,
    ) -> Result<License> {
        nexus_kit::auth::caller(ctx).require_platform_admin()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let new = NewLicense {
            app_id: parse_id(&input.app_id, "app")?,
            organization_id: parse_id(&input.organization_id, "organization")?,
            kind: input.kind,
            max_activations: input.max_activations,
            expires_at: input.expires_at,
        };
        service::create_license(db, new).await.map(License)
    }
}
