//! Checking scopes against the platform's catalog (`nexus_protocol::scopes`), as GraphQL errors.

use crate::error::{Result, bad_input};

pub use nexus_protocol::scopes::{CATALOG, is_known};

/// Every unknown scope is named in one error.
pub fn validate(scopes: &[String]) -> Result<()> {
    let unknown: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !is_known(s))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        let known: Vec<&str> = CATALOG.iter().map(|(n, _)| *n).collect();
        Err(bad_input(format!(
            "unknown scope(s) {}; known scopes: {}",
            unknown.join(", "),
            known.join(", ")
        )))
    }
}
