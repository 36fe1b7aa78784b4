//! The router's view of memberships, asked of identity (`GET /internal/membership`, service
//! token) and cached for `caches.membership_seconds`, like the core services' own view
//! (`nexus_kit::authority`): `nexus.auth` asks whether acting in an organization needs a second
//! factor; the installation gate asks which role to tell an app, so a demotion or a removal
//! reaches apps within that time, not when the caller's token expires.

use std::sync::Arc;
use std::time::Duration;

use nexus_protocol::internal::membership::{MembershipAnswer, MembershipQuery};
use nexus_protocol::token::KeyStore;

pub struct Memberships {
    keys: Arc<KeyStore>,
    url: String,
    http: reqwest::Client,
    /// (user, organization) → identity's answer.
    cache: moka::future::Cache<(String, String), MembershipAnswer>,
}

impl Memberships {
    /// `url`: identity's lookup; answers are trusted for `ttl`.
    pub fn new(keys: Arc<KeyStore>, url: String, http: reqwest::Client, ttl: Duration) -> Self {
        Memberships {
            keys,
            url,
            http,
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// `user`'s membership of `organization` as identity says it is now (within the cache's
    /// time). An error is a message for the caller: identity could not be asked.
    pub async fn of(&self, user: &str, organization: &str) -> Result<MembershipAnswer, String> {
        let key = (user.to_owned(), organization.to_owned());
        let ask = async {
            let unavailable = |detail: String| {
                tracing::error!(%detail, "membership lookup at identity failed");
                "cannot check your membership of the organization now; try again shortly".to_owned()
            };
            let query = match (user.parse(), organization.parse()) {
                (Ok(user), Ok(organization)) => MembershipQuery { user, organization },
                _ => return Err(unavailable(format!("not ids: {user}, {organization}"))),
            };
            let token = self
                .keys
                .service_token("router")
                .map_err(|e| unavailable(e.to_string()))?;
            let response = self
                .http
                .get(&self.url)
                .query(&query)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            if !response.status().is_success() {
                return Err(unavailable(format!("HTTP {}", response.status())));
            }
            response
                .json::<MembershipAnswer>()
                .await
                .map_err(|e| unavailable(e.to_string()))
        };
        self.cache
            .try_get_with(key, ask)
            .await
            .map_err(|e| (*e).clone())
    }
}
