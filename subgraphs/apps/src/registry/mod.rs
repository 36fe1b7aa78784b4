//! The registry's persistent side, in one place: supergraph versions (`versions`: submit, approve,
//! reject, roll back, suspend), the queue that publishes the changes waiting together as one new
//! head (`publisher`), the feed routers in other processes
//! follow (`feed`: `GET /supergraph`), and health checks of the live apps (`health`). The pure
//! checks (manifest, extension policy, composition) are the `nexus-registry` crate's.

pub mod changes;
pub mod feed;
pub mod health;
pub mod live_set;
pub mod publisher;
pub mod versions;
