//! Nexus's native router plugins, one module each.

pub mod auth;
pub mod installation_gate;
pub mod limits;
pub mod pipeline;
pub mod rate_limit;
pub mod request_context;

#[cfg(test)]
mod tests;
