//! Apps' part of the supergraph, and the stubs of identity's entities it points at.

mod mutation;
mod query;
mod types;

pub use mutation::Mutation;
pub use query::Query;
pub use types::{App, Installation, OrganizationInstallations, UserRef};
