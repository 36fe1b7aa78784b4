//! Plumbing every core subgraph shares: database connection, error codes, ids, Relay pagination,
//! DataLoaders and the HTTP server a subgraph is served by.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod authority;
pub mod core_client;
pub mod db;
pub mod error;
pub mod html;
pub mod id;
pub mod idle;
pub mod limits;
pub mod loader;
pub mod outbox;
pub mod page;
pub mod rate_limit;
pub mod retention;
pub mod scopes;
pub mod secret_box;
pub mod secrets;
pub mod server;

pub use error::{Code, Error, Result};
// Tokens, the contracts between services and the outbound client live in `nexus-protocol` (the router
// shares them); subgraphs reach them through the kit as before.
pub use nexus_protocol::{events, internal, outbound, token};
