//! What Nexus's services and the router share without any database: signed tokens and the key
//! set (`token`), the scope catalog (`scopes`), the OAuth server's paths and metadata (`oauth`), the router's installation lookup (`installation_view`), identity's membership lookup
//! (`membership`),
//! the one outbound HTTP client for addresses apps name (`outbound`), rate-limit buckets shared
//! through Redis (`rate_limit`) and the caller's address behind trusted proxies
//! (`client_address`) and how long cached answers about access are trusted (`freshness`). The router depends on this crate, never on the subgraphs' plumbing.

pub mod client_address;
pub mod events;
pub mod freshness;
pub mod installation_view;
pub mod membership;
pub mod oauth;
pub mod outbound;
pub mod rate_limit;
pub mod scopes;
pub mod token;
pub mod webhook_signature;
