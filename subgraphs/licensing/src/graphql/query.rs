use async_graphql::{Context, ID, Object};
use nexus_kit::Result;
use nexus_kit::id::parse_id;
use nexus_kit::loader::load;

use super::types::{Activation, EntityKey, InstallationLicense, License, OrganizationLicenses};
use crate::entity::{activation, license};

pub struct Query;

#[Object]
impl Query {
    /// A license by id; null when there is none.
    async fn license(&self, ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
        let id = parse_id(&id, "license")?;
        Ok(load::<license::Entity>(ctx, id).await?.map(License))
    }

    #[graphql(entity)]
    async fn find_license_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<License>> {
        self.license(ctx, id).await
    }

    #[graphql(entity)]
    async fn find_activation_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Activation>> {
        let id = parse_id(&id, "activation")?;
        Ok(load::<activation::Entity>(ctx, id).await?.map(Activation))
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
