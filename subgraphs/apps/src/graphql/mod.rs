//! Apps' part of the supergraph, and the stubs of identity's entities it points at.

mod access;
mod authorizations;
mod development;
mod mutation;
mod query;
mod store;
mod types;
mod versions;
mod webhooks;

use async_graphql::MergedObject;

pub use mutation::Mutation;
pub use query::Query;
pub use types::AppVersion;
pub use versions::{SupergraphVersion, VersionMutation, VersionQuery};

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct RootQuery(
    Query,
    VersionQuery,
    authorizations::AuthorizationQuery,
    development::DevelopmentQuery,
    store::StoreQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct RootMutation(
    Mutation,
    VersionMutation,
    webhooks::WebhookMutation,
    authorizations::AuthorizationMutation,
    development::DevelopmentMutation,
    store::StoreMutation,
);
pub use types::{App, Installation, OrganizationInstallations, UserRef};
