use async_graphql::{Context, ID, Object};
use nexus_kit::Result;
use nexus_kit::id::parse_id;
use nexus_kit::loader::load;

use super::types::{
    Activation, EntityKey, InstallationLicense, License, OrganizationLicenses, may_read_licenses_of,
};
use crate::entity::{activation, license};
use nexus_kit::auth::caller;

pub struct Query;

#[Object]
impl Query {
    /// A license of your current organization by id; null otherwise.
    async fn license(&self, ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
        caller(ctx).require()?;
        readable_license(ctx, id).await
    }

    #[graphql(entity)]
    async fn find_license_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
        readable_license(ctx, id).await
    }

    #[graphql(entity)]
    async fn find_activation_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Activation>> {
        let id = parse_id(&id, "activation")?;
        let Some(activation) = load::<activation::Entity>(ctx, id).await? else {
            return Ok(None);
        };
        let license = load::<license::Entity>(ctx, activation.license_id).await?;
        Ok(license
            .filter(|l| may_read_licenses_of(ctx, l.organization_id))
            .map(|_| Activation(activation)))
    }

    #[graphql(entity)]
    async fn find_organization_by_id(&self, id: ID) -> Result<OrganizationLicenses> {
        Ok(OrganizationLicenses {
            id: parse_id(&id, "organization")?,
        })
    }

    #[graphql(entity)]
    async fn find_installation_by_id(
        &self,
        #[graphql(key)] id: ID,
        app: Option<EntityKey>,
        organization: Option<EntityKey>,
    ) -> Result<InstallationLicense> {
        Ok(InstallationLicense {
            id: parse_id(&id, "installation")?,
            app,
            organization,
        })
    }
}

async fn readable_license(ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
    let id = parse_id(&id, "license")?;
    Ok(load::<license::Entity>(ctx, id)
        .await?
        .filter(|l| may_read_licenses_of(ctx, l.organization_id))
        .map(License))
}
