//! Identity's part of the supergraph.

mod mutation;
mod query;
mod types;

pub use mutation::ClientAddress;
pub use mutation::Mutation;
pub use query::Query;
pub use types::{ApiKey, Membership, Organization, User};
