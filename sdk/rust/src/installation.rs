//! Calling the graph as the app: an installation token from the platform's token endpoint (OAuth
//! 2.0 client credentials, RFC 6749 §4.4, with the installation named), kept until shortly
//! before it expires, and a minimal GraphQL client that sends it.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the platform cannot be reached: {0}")]
    Unreachable(String),
    #[error("the token endpoint refused: {error}: {description}")]
    Refused { error: String, description: String },
    #[error("the platform answered something unexpected: {0}")]
    Unexpected(String),
}

/// Installation tokens for one installation of the app.
pub struct InstallationTokens {
    token_url: String,
    client_id: String,
    client_secret: String,
    installation_id: String,
    http: reqwest::Client,
    current: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct Issued {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct Refusal {
    error: String,
    #[serde(default)]
    error_description: String,
}

impl InstallationTokens {
    /// For the app `client_id` (its id) with `client_secret`, acting for `installation_id`,
    /// on the platform at `platform` (e.g. `http://127.0.0.1:4000`).
    pub fn new(
        platform: &str,
        client_id: &str,
        client_secret: &str,
        installation_id: &str,
    ) -> Self {
        InstallationTokens {
            token_url: format!("{}/oauth/token", platform.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            installation_id: installation_id.to_owned(),
            http: reqwest::Client::new(),
            current: Mutex::new(None),
        }
    }

    /// A token valid for at least a while longer, asked anew only when needed.
    pub async fn token(&self) -> Result<String, CallError> {
        let mut current = self.current.lock().await;
        if let Some((token, until)) = &*current
            && Instant::now() + RENEW_BEFORE < *until
        {
            return Ok(token.clone());
        }
        let answer = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("installation_id", self.installation_id.as_str()),
            ])
            .send()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = answer.status();
        let body = answer
            .bytes()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<Refusal>(&body) {
                Ok(r) => CallError::Refused {
                    error: r.error,
                    description: r.error_description,
                },
                Err(_) => CallError::Unexpected(format!("HTTP {status}")),
            });
        }
        let issued: Issued =
            serde_json::from_slice(&body).map_err(|e| CallError::Unexpected(e.to_string()))?;
        let until = Instant::now() + Duration::from_secs(issued.expires_in);
        *current = Some((issued.access_token.clone(), until));
        Ok(issued.access_token)
    }

    /// Forgets the token (after the platform refused it: uninstalled, scopes changed).
    pub async fn forget(&self) {
        *self.current.lock().await = None;
    }
}

/// The platform's graph, called with installation tokens.
pub struct Graph {
    url: String,
    tokens: InstallationTokens,
    http: reqwest::Client,
}

impl Graph {
    /// `platform` as for [`InstallationTokens::new`]; the graph is at `{platform}/graphql`.
    pub fn new(platform: &str, tokens: InstallationTokens) -> Self {
        Graph {
            url: format!("{}/graphql", platform.trim_end_matches('/')),
            tokens,
            http: reqwest::Client::new(),
        }
    }

    /// The whole GraphQL answer (`data` and `errors`) of `query` with `variables`. An answer
    /// saying the token is no longer valid makes the next call ask for a new one.
    pub async fn query(&self, query: &str, variables: Value) -> Result<Value, CallError> {
        let token = self.tokens.token().await?;
        let answer = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if answer.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.tokens.forget().await;
        }
        answer
            .json()
            .await
            .map_err(|e| CallError::Unexpected(e.to_string()))
    }
}
