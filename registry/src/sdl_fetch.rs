//! Fetching an app subgraph's SDL with `{ _service { sdl } }`, through the one outbound client
//! (`nexus_protocol::outbound`): http(s) only, bounded in time and size, no redirects, and no private
//! or loopback addresses unless the operator allows them (`nexus dev` does) — checked on the
//! address actually connected to.

use anyhow::anyhow;
use reqwest::Method;

pub use nexus_protocol::outbound::{FetchPolicy, is_public};
use nexus_protocol::outbound::{Outbound, OutboundError};

/// Why a fetch failed, with a stable code for the submission's error list.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub code: &'static str,
    pub message: String,
}

fn fetch_error(code: &'static str, message: impl Into<String>) -> FetchError {
    FetchError {
        code,
        message: message.into(),
    }
}

pub async fn fetch_sdl(url: &str, policy: &FetchPolicy) -> anyhow::Result<String> {
    fetch(url, policy).await.map_err(|e| anyhow!(e.message))
}

impl From<OutboundError> for FetchError {
    fn from(error: OutboundError) -> Self {
        let code = match &error {
            OutboundError::BadUrl(_) | OutboundError::AddressRefused { .. } => "SUBGRAPH_URL",
            OutboundError::Timeout(_) | OutboundError::Unreachable { .. } => "SUBGRAPH_UNREACHABLE",
            OutboundError::TooLarge { .. } => "SDL_TOO_LARGE",
        };
        fetch_error(code, error.to_string())
    }
}

/// The SDL at `url`, or why not.
pub async fn fetch(url: &str, policy: &FetchPolicy) -> Result<String, FetchError> {
    let outbound = Outbound::new(policy.clone())
        .map_err(|e| fetch_error("INTERNAL", format!("cannot build an HTTP client: {e}")))?;
    let request = outbound
        .request(Method::POST, url)?
        .json(&serde_json::json!({ "query": "{ _service { sdl } }" }));
    let reply = outbound.send(request).await?;
    if !reply.status.is_success() {
        return Err(fetch_error(
            "SUBGRAPH_UNREACHABLE",
            format!("{url} answered HTTP {}", reply.status),
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|_| fetch_error("NOT_A_SUBGRAPH", format!("{url} did not answer JSON")))?;
    json.pointer("/data/_service/sdl")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            fetch_error(
                "NOT_A_SUBGRAPH",
                format!("{url} answered no `_service {{ sdl }}`: is it a federation subgraph?"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let err = fetch("http://127.0.0.1:9/graphql", &FetchPolicy::public())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_URL"));
        let err = fetch("http://localhost:9/graphql", &FetchPolicy::public())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_URL"));
        // Allowed, it is tried (and nothing listens on port 9).
        let err = fetch("http://127.0.0.1:9/graphql", &FetchPolicy::allow_loopback())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_UNREACHABLE"));
        let err = fetch("ftp://example.com/x", &FetchPolicy::public())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_URL"));
    }
}
