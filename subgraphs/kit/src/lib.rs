//! Plumbing every core subgraph shares: database connection, error codes, ids, Relay pagination,
//! DataLoaders and the HTTP server a subgraph is served by.

pub mod auth;
pub mod core_client;
pub mod db;
pub mod error;
pub mod id;
pub mod idle;
pub mod installation_view;
pub mod loader;
pub mod outbound;
pub mod page;
pub mod rate_limit;
pub mod scopes;
pub mod server;
pub mod token;

pub use error::{Code, Error, Result};
