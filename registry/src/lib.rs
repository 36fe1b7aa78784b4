//! The registry: which subgraphs make the supergraph, and composing them with `apollo-federation`
//! (the same code the embedded router plans with, so what composes here loads there).

pub mod access;
pub mod app_plane;
pub mod compose;
pub mod composer;
pub mod manifest;
pub mod policy;
pub mod registry;
pub mod sample_apps;
pub mod sdl_fetch;
pub mod submission;
pub mod supergraph_config;

pub use compose::{CompositionErrors, SubgraphSdl, compose};
pub use composer::Composer;
pub use registry::Registry;
