//! The `nexus` command: runs the whole platform in one process (`nexus dev`) or one service per
//! process (`nexus serve …`), migrates the database and composes the supergraph.

pub mod app_kit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod core_subgraphs;
pub mod seed;
pub mod stack;
