//! Fresh authority: a user's token says which organization it acts in and with which role, as
//! of when it was issued. The apps and licensing services ask identity what is true now (cached
//! for at most `caches.membership_seconds`, see `nexus_protocol::freshness`), so that a member removed or an admin demoted loses what
//! they lost within seconds, not when the token expires (`kit::server` applies it to every
//! request's `Caller`).

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use nexus_protocol::internal::membership::{self, MembershipQuery};
use nexus_protocol::token::KeyStore;

use crate::error::{Code, Result};

pub use nexus_protocol::internal::membership::MembershipAnswer;

pub struct Memberships {
    http: reqwest::Client,
    url: String,
    keys: Arc<KeyStore>,
    /// The asking service's name (the service token's `sub`).
    caller: &'static str,
    cache: moka::future::Cache<(Uuid, Uuid), MembershipAnswer>,
}

impl Memberships {
    /// `identity_url`: identity's GraphQL URL (the lookup is next to it); answers are trusted
    /// for `ttl`.
    pub fn new(
        caller: &'static str,
        identity_url: &str,
        keys: Arc<KeyStore>,
        ttl: Duration,
    ) -> Memberships {
        let base = identity_url
            .trim_end_matches('/')
            .trim_end_matches("/graphql");
        Memberships {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            url: format!("{base}{}", membership::PATH),
            keys,
            caller,
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The user's role in the organization now (`None` when they are not a member), and whether
    /// it requires a second factor.
    pub async fn role(&self, user: Uuid, organization: Uuid) -> Result<MembershipAnswer> {
        self.cache
            .try_get_with((user, organization), self.ask(user, organization))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn ask(&self, user: Uuid, organization: Uuid) -> Result<MembershipAnswer> {
        let unavailable = |detail: String| {
            tracing::error!(%detail, "membership lookup at identity failed");
            Code::Unavailable
                .error("cannot check your membership now (the identity service is unavailable); try again shortly")
        };
        let token = self
            .keys
            .service_token(self.caller)
            .map_err(|e| Code::Internal.error(format!("cannot sign a service token: {e}")))?;
        let response = self
            .http
            .get(&self.url)
            .query(&MembershipQuery { user, organization })
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))
    }
}
