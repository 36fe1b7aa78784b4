//! The registry's persistent side, in one place: supergraph versions (`versions`: submit, approve,
//! reject, roll back, suspend — each records one new head), the feed routers in other processes
//! follow (`feed`: `GET /supergraph`), and health checks of the live apps (`health`). The pure
//! checks (manifest, extension policy, composition) are the `nexus-registry` crate's.

pub mod feed;
pub mod health;
pub mod versions;
