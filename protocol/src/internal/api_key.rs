//! identity's API-key exchange, asked by the router for a request with `X-Api-Key`:
//! `POST EXCHANGE_PATH` with the key in that header answers a short-lived token for it
//! (`Exchanged`), or 401 with a `Refused`. The router caches either answer briefly.

use serde::{Deserialize, Serialize};

pub const EXCHANGE_PATH: &str = "/api-keys/exchange";
/// The header the key travels in, to identity as from the client.
pub const HEADER: &str = "x-api-key";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Exchanged {
    /// A token of the key's user (audience: the core), verified by the router like any other.
    pub token: String,
    pub expires_in: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refused {
    pub error: String,
}
