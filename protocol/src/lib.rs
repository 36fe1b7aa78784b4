//! What Nexus's services and the router share without any database: signed tokens and the key
//! set (`token`), the scope catalog (`scopes`), the router's installation lookup (`installation_view`)
//! and the one outbound HTTP client for addresses apps name (`outbound`). The router depends on
//! this crate, never on the subgraphs' plumbing.

pub mod installation_view;
pub mod outbound;
pub mod scopes;
pub mod token;
