//! Licensing's part of the supergraph, and the stubs of other subgraphs' entities it extends.

mod mutation;
mod query;
mod types;

pub use mutation::Mutation;
pub use query::Query;
pub use types::{Activation, License};
