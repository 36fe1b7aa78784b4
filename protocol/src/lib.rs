//! What Nexus's services and the router share without any database: signed tokens and the key
//! set (`token`), the scope catalog (`scopes`), the OAuth server's paths and metadata (`oauth`),
//! the contracts between the services over HTTP (`internal`: each call's path, request and
//! answer), the one outbound HTTP client for addresses apps name (`outbound`), rate-limit buckets
//! shared through Redis (`rate_limit`), the caller's address behind trusted proxies
//! (`client_address`) and how long cached answers about access are trusted (`freshness`). The
//! router depends on this crate, never on the subgraphs' plumbing.

pub mod client_address;
pub mod events;
pub mod freshness;
pub mod internal;
pub mod oauth;
pub mod outbound;
pub mod rate_limit;
pub mod scopes;
pub mod token;
pub mod token_check;
pub mod webhook_signature;
