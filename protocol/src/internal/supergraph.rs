//! The registry's feed, served by the apps service and followed by routers in other processes
//! (`nexus serve router`): `GET PATH?wait=SECONDS` with `If-None-Match: <ETag served>` answers the
//! head supergraph's SDL (200, its `ETag` and `VERSION_HEADER`) as soon as it differs, or 304
//! when the wait is over — no busy polling.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub const PATH: &str = "/supergraph";
/// The longest a request may wait for a change.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The header naming the supergraph version served.
pub const VERSION_HEADER: &str = "x-nexus-supergraph-version";

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct FeedQuery {
    /// Seconds to wait for a head other than `If-None-Match` (0: answer at once).
    #[serde(default)]
    pub wait: u64,
}
