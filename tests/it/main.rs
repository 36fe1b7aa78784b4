//! Nexus's integration tests, in one binary (apollo-router is linked once, not once per file):
//! one module per area, each starting the whole stack on random ports and going through the real
//! router. `common` holds the helpers, split by concern.

mod common;

mod accounts;
mod app_kit;
mod app_versions;
mod audit;
mod audit_apps;
mod auth;
mod caches;
mod cli;
mod deployment;
mod development;
mod end_to_end;
mod example_app;
mod extension_policy;
mod hostile_apps;
mod installations;
mod licenses;
mod n_plus_one;
mod node_app;
mod oauth;
mod operation_limits;
mod public_port;
mod races;
mod rate_limits;
mod retention;
mod schema_drift;
mod sdk;
mod secrets_at_rest;
mod serve_router;
mod store;
mod store_search;
mod submission;
mod tenancy;
mod two_factor;
mod webhook_workers;
mod webhooks;
