//! Identity's part of the supergraph.

mod account;
mod api_keys;
mod audit;
mod invitations;
mod members;
mod organizations;
mod profile;
mod query;
mod sessions;
mod two_factor;
mod types;

use async_graphql::MergedObject;

pub use query::Query;
pub use sessions::ClientAddress;

#[derive(MergedObject, Default)]
pub struct Mutation(
    sessions::SessionMutation,
    organizations::OrganizationMutation,
    profile::ProfileMutation,
    invitations::InvitationMutation,
    account::AccountMutation,
    members::MemberMutation,
    api_keys::ApiKeyMutation,
    two_factor::TwoFactorMutation,
);
pub use types::{ApiKey, Membership, Organization, User};
