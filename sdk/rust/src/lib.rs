//! What a Nexus app needs to trust the platform: the context token on every call the router
//! makes to the app (`context`), webhook deliveries (`webhook`), and an installation token to
//! call the graph as the app (`installation`). Every verdict is pinned by
//! `sdk/test-vectors/`, which the Node and Python SDKs run too.

pub mod context;
pub mod installation;
pub mod jwks;
pub mod webhook;

pub use context::{ContextClaims, ContextVerifier, Rejection};
pub use installation::{Graph, InstallationTokens};
pub use jwks::Jwks;
pub use webhook::{Webhook, WebhookRejection};

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
