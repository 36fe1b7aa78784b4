//! The platform's scope catalog: what an API key, or later an app, may be granted.

use crate::error::{Result, bad_input};

pub const CATALOG: &[(&str, &str)] = &[
    (
        "users:read",
        "read the profile and email of the organization's members",
    ),
    (
        "organizations:read",
        "read the organization and its members",
    ),
    ("apps:read", "read the organization's installed apps"),
    ("licenses:read", "read the organization's licenses"),
];

pub fn is_known(scope: &str) -> bool {
    CATALOG.iter().any(|(name, _)| *name == scope)
}

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
