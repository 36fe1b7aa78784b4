//! Nexus's native router plugins, one module each.

pub mod auth;
pub mod installation_gate;

#[cfg(test)]
mod tests;
