//! The router's view of installations, asked of the apps service (`GET /internal/installation`
//! with a service token) and cached briefly: the installation gate asks whether an organization
//! has an app installed; `nexus.auth` asks whether an installation token's installation is still
//! live. Answers (yes and no alike) are trusted for a moment, so an uninstall, a suspension or a
//! scope reduction takes effect within that moment — without SQL on every request.

use std::sync::Arc;
use std::time::Duration;

use nexus_protocol::internal::installation::{InstallationView, LookupAnswer, LookupQuery, PATH};
use nexus_protocol::token::KeyStore;
use uuid::Uuid;

pub struct Directory {
    keys: Arc<KeyStore>,
    lookup_url: reqwest::Url,
    http: reqwest::Client,
    by_app: moka::future::Cache<(Uuid, String), Option<InstallationView>>,
    by_id: moka::future::Cache<(Uuid, Option<Uuid>), Option<InstallationView>>,
}

impl Directory {
    /// `apps_url`: the apps subgraph's URL; the lookup is served at `PATH` beside it.
    /// Answers are trusted for `ttl` (`caches.installation_seconds`).
    pub fn new(
        keys: Arc<KeyStore>,
        apps_url: &str,
        http: reqwest::Client,
        ttl: Duration,
    ) -> Result<Self, String> {
        let lookup_url = reqwest::Url::parse(apps_url)
            .and_then(|url| url.join(PATH))
            .map_err(|e| format!("apps_url `{apps_url}`: {e}"))?;
        Ok(Directory {
            keys,
            lookup_url,
            http,
            by_app: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            by_id: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        })
    }

    /// The installation of the app `namespace` in `organization` (uninstalled ones are none).
    pub async fn for_app(
        &self,
        organization: Uuid,
        namespace: &str,
    ) -> Result<Option<InstallationView>, String> {
        self.by_app
            .try_get_with((organization, namespace.to_owned()), async {
                self.fetch(&LookupQuery::by_app(organization, namespace))
                    .await
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// The installation `id`, whatever its status; with `grant`, not live once that OAuth grant
    /// (what a delegated token came from) is revoked.
    pub async fn by_id(
        &self,
        id: Uuid,
        grant: Option<Uuid>,
    ) -> Result<Option<InstallationView>, String> {
        self.by_id
            .try_get_with((id, grant), async {
                self.fetch(&LookupQuery::by_id(id, grant)).await
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn fetch(&self, query: &LookupQuery) -> Result<Option<InstallationView>, String> {
        let token = self
            .keys
            .service_token("router")
            .map_err(|e| format!("cannot sign a service token: {e:#}"))?;
        let response = self
            .http
            .get(self.lookup_url.clone())
            .query(query)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("the apps service did not answer: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "the apps service answered HTTP {}",
                response.status()
            ));
        }
        let answer: LookupAnswer = response
            .json()
            .await
            .map_err(|e| format!("the apps service answered no installation: {e}"))?;
        Ok(answer.installation)
    }
}
