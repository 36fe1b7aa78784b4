//! One core service asking another: a GraphQL call straight to the other subgraph (not through
//! the router), with a short-lived service token, so no service reads another's tables.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ErrorExtensions;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Code, Error, Result};
use nexus_protocol::token::KeyStore;

#[derive(Clone)]
pub struct CoreClient {
    http: reqwest::Client,
    /// The other subgraph's GraphQL URL.
    url: String,
    /// Its name, for messages.
    target: &'static str,
    /// The calling service's name (the token's `sub`).
    caller: &'static str,
    keys: Arc<KeyStore>,
}

impl CoreClient {
    pub fn new(
        caller: &'static str,
        target: &'static str,
        url: String,
        keys: Arc<KeyStore>,
    ) -> CoreClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        CoreClient {
            http,
            url,
            target,
            caller,
            keys,
        }
    }

    /// Runs `query` and returns its `data` as `T`; errors of the other service come back with
    /// their code and message.
    pub async fn query<T: DeserializeOwned>(&self, query: &str, variables: Value) -> Result<T> {
        let token = self
            .keys
            .service_token(self.caller)
            .map_err(|e| Code::Internal.error(format!("cannot sign a service token: {e}")))?;
        let unavailable = |detail: String| {
            tracing::error!(target_service = self.target, %detail, "core service call failed");
            Code::Unavailable.error(format!(
                "the {} service is unavailable; try again shortly",
                self.target
            ))
        };
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let body: Value = response
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if let Some(error) = body["errors"].get(0) {
            let message = error["message"].as_str().unwrap_or("failed").to_owned();
            let code = error["extensions"]["code"].as_str().unwrap_or("INTERNAL");
            return Err(Error::new(message).extend_with(|_, e| e.set("code", code.to_owned())));
        }
        serde_json::from_value(body["data"].clone())
            .map_err(|e| unavailable(format!("unexpected answer: {e}")))
    }
}
