//! How long a cached answer about who may do what is trusted. Each is the longest a change (a
//! revoked API key, an uninstall, a removed member) takes to bite, traded against a lookup per
//! request: `[caches]` in the configuration.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// An API key's exchange for a token (or its refusal), at the router.
    pub api_keys: Duration,
    /// A bearer token's verified signature, issuer and audience, at the router (its expiry is
    /// checked on every request, so this bounds work, not revocation).
    pub verified_tokens: Duration,
    /// Whether an organization has an app installed, and an installation token's installation
    /// still live, at the router.
    pub installations: Duration,
    /// A user's role in an organization, at the services that ask identity and at the router
    /// (the role an app is told; the second-factor policy).
    pub memberships: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            api_keys: Duration::from_secs(5),
            verified_tokens: Duration::from_secs(60),
            installations: Duration::from_secs(1),
            memberships: Duration::from_secs(2),
        }
    }
}
