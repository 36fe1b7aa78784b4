//! The platform's scope catalog: what an API key or an app may be granted.

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
