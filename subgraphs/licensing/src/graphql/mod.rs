//! Licensing's part of the supergraph, and the stubs of other subgraphs' entities it extends.

mod checks;
mod mutation;
mod query;
mod types;

pub use checks::{AnonymousValidations, ClientAddress};
pub use mutation::Mutation;
pub use query::Query;
pub use types::{Activation, License};
