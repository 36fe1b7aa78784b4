//! The installation gate, used by `nexus.auth` for every app subgraph: the caller's organization
//! must have the app installed and active, else the fetch is not made and its fields resolve to
//! null with `APP_NOT_INSTALLED`. When it is, the app receives a context token minted for it
//! (`aud` = the app's namespace; user, organization, installation, granted scopes; 5 minutes) and
//! never the client's own token.

use std::sync::Arc;
use std::time::Duration;

use apollo_router::graphql;
use apollo_router::services::subgraph;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use nexus_kit::token::{CORE_AUDIENCE, KeyStore, TokenType, new_claims};
use uuid::Uuid;

/// How long an installation answer is trusted: install and uninstall take effect within it.
pub const INSTALLATION_CACHE_TTL: Duration = Duration::from_secs(1);
/// Lifetime of a context token.
pub const CONTEXT_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Debug)]
pub struct Installed {
    pub installation_id: String,
    pub scopes: Vec<String>,
}

pub struct Gate {
    pub keys: Arc<KeyStore>,
    pub apps_url: String,
    pub http: reqwest::Client,
    /// (organization, namespace) → the live installation, if any.
    pub cache: moka::future::Cache<(String, String), Option<Installed>>,
}

impl Gate {
    pub fn new(keys: Arc<KeyStore>, apps_url: String, http: reqwest::Client) -> Self {
        Gate {
            keys,
            apps_url,
            http,
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(INSTALLATION_CACHE_TTL)
                .build(),
        }
    }

    /// Lets the request through with a context token, or answers it with `APP_NOT_INSTALLED`.
    pub async fn check(
        &self,
        namespace: &str,
        client_token: Option<String>,
        mut request: subgraph::Request,
    ) -> std::ops::ControlFlow<subgraph::Response, subgraph::Request> {
        let refused = |request: subgraph::Request, message: String| {
            std::ops::ControlFlow::Break(
                subgraph::Response::builder()
                    .errors(vec![
                        graphql::Error::builder()
                            .message(message)
                            .extension_code("APP_NOT_INSTALLED")
                            .extension("app", namespace.to_owned())
                            .build(),
                    ])
                    .extensions(serde_json_bytes::Map::new())
                    .context(request.context)
                    .subgraph_name(namespace.to_owned())
                    .build(),
            )
        };
        let Some(token) = client_token else {
            return refused(request, format!("sign in to use the app `{namespace}`"));
        };
        let Ok(claims) = self.keys.verify(&token, CORE_AUDIENCE) else {
            return refused(request, format!("sign in to use the app `{namespace}`"));
        };
        let Some(organization) = claims.org.clone() else {
            return refused(
                request,
                format!("the app `{namespace}` needs a token acting in an organization"),
            );
        };
        let installed = self
            .cache
            .get_with(
                (organization.clone(), namespace.to_owned()),
                self.lookup(namespace, &token),
            )
            .await;
        let Some(installed) = installed else {
            return refused(
                request,
                format!("the app `{namespace}` is not installed in your organization"),
            );
        };
        let mut context = new_claims(
            self.keys.issuer(),
            claims.sub.clone(),
            TokenType::Context,
            CONTEXT_TOKEN_TTL,
        );
        context.aud = namespace.to_owned();
        context.org = Some(organization);
        context.inst = Some(installed.installation_id);
        context.scopes = installed.scopes;
        let Ok(signed) = self.keys.sign(&context) else {
            return refused(
                request,
                "cannot sign a context token; it has been logged".to_owned(),
            );
        };
        let headers = request.subgraph_request.headers_mut();
        headers.remove(AUTHORIZATION);
        headers.remove("x-api-key");
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {signed}")) {
            headers.insert(AUTHORIZATION, value);
        }
        std::ops::ControlFlow::Continue(request)
    }

    /// Asks the apps subgraph, as the caller, for their organization's installation of the app.
    async fn lookup(&self, namespace: &str, token: &str) -> Option<Installed> {
        let body = serde_json::json!({
            "query": "query($ns: String!) { installationForApp(namespace: $ns) { id grantedScopes } }",
            "variables": { "ns": namespace },
        });
        let response = self
            .http
            .post(&self.apps_url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| tracing::error!(error = %e, "installation lookup failed"))
            .ok()?;
        let json: serde_json::Value = response.json().await.ok()?;
        let installation = json.pointer("/data/installationForApp")?;
        let installation_id = installation["id"].as_str()?.to_owned();
        Uuid::parse_str(&installation_id).ok()?;
        let scopes = installation["grantedScopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        Some(Installed {
            installation_id,
            scopes,
        })
    }
}
