//! Identity's part of the supergraph.

mod audit;
mod mutation;
mod query;
mod two_factor;
mod types;

use async_graphql::MergedObject;

pub use mutation::ClientAddress;
pub use query::Query;

#[derive(MergedObject, Default)]
pub struct Mutation(mutation::AccountMutation, two_factor::TwoFactorMutation);
pub use types::{ApiKey, Membership, Organization, User};
