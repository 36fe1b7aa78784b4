//! The router's calls to app subgraphs go through Nexus's one outbound client
//! (`nexus_protocol::outbound`), not apollo-router's own HTTP client: the address policy applies to
//! the address actually connected to on every call (a DNS answer that changes after review
//! reaches nothing private), redirects are refused and the answer is bounded in size. The core
//! subgraphs keep the router's client. Time is bounded by the router's traffic shaping, which
//! wraps this service.

use std::time::Duration;

use apollo_router::graphql;
use apollo_router::services::subgraph;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use nexus_protocol::outbound::{FetchPolicy, Outbound, OutboundError};
use reqwest::Method;

/// Past the router's own per-subgraph timeout (router.yaml), which answers first.
const APP_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer an app may give one fetch.
const MAX_APP_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Headers not to pass on: the outbound client sets its own.
const HOP_BY_HOP: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
];

#[derive(Clone)]
pub struct AppClient {
    outbound: Outbound,
}

impl AppClient {
    pub fn new(allow_private: bool) -> anyhow::Result<Self> {
        Ok(AppClient {
            outbound: Outbound::new(FetchPolicy {
                timeout: APP_CALL_TIMEOUT,
                max_bytes: MAX_APP_RESPONSE_BYTES,
                allow_private,
            })?,
        })
    }

    /// Makes the fetch `request` to the app `namespace`; a failure is a GraphQL error naming the
    /// app (`SUBREQUEST_HTTP_ERROR`), never a failed response for the whole query.
    pub async fn call(&self, namespace: &str, request: subgraph::Request) -> subgraph::Response {
        let context = request.context.clone();
        match self.fetch(request).await {
            Ok((status, response)) => subgraph::Response::builder()
                .and_label(response.label)
                .and_data(response.data)
                .and_path(response.path)
                .errors(response.errors)
                .extensions(response.extensions)
                .status_code(status)
                .context(context)
                .subgraph_name(namespace.to_owned())
                .build(),
            Err(reason) => {
                tracing::warn!(app = namespace, reason = %reason, "app fetch failed");
                subgraph::Response::builder()
                    .errors(vec![
                        graphql::Error::builder()
                            .message(format!("HTTP fetch failed from '{namespace}': {reason}"))
                            .extension_code("SUBREQUEST_HTTP_ERROR")
                            .extension("service", namespace.to_owned())
                            .build(),
                    ])
                    .extensions(serde_json_bytes::Map::new())
                    .context(context)
                    .subgraph_name(namespace.to_owned())
                    .build()
            }
        }
    }

    async fn fetch(
        &self,
        request: subgraph::Request,
    ) -> Result<(StatusCode, graphql::Response), String> {
        let (parts, body) = request.subgraph_request.into_parts();
        let url = parts.uri.to_string();
        let body = serde_json::to_vec(&body).map_err(|e| format!("cannot encode: {e}"))?;
        let mut call = self
            .outbound
            .request(Method::POST, &url)
            .map_err(describe)?;
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) && name != CONTENT_TYPE && name != ACCEPT {
                call = call.header(name, value);
            }
        }
        let call = call
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                ACCEPT,
                HeaderValue::from_static("application/graphql-response+json, application/json"),
            )
            .body(body);
        let reply = self.outbound.send(call).await.map_err(describe)?;
        let status = StatusCode::from_u16(reply.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        match serde_json::from_slice::<graphql::Response>(&reply.body) {
            Ok(response)
                if status.is_success()
                    || response.data.is_some()
                    || !response.errors.is_empty() =>
            {
                Ok((status, response))
            }
            _ if !status.is_success() => Err(format!("{status}")),
            Ok(_) | Err(_) => Err("the app did not answer a GraphQL response".to_owned()),
        }
    }
}

/// What the caller may read about a failed call: never the address an app's name resolved to.
fn describe(error: OutboundError) -> String {
    match error {
        OutboundError::AddressRefused { .. } => {
            "the app's address is refused by the platform's address policy".to_owned()
        }
        OutboundError::Timeout(_) => "the app did not answer in time".to_owned(),
        OutboundError::TooLarge { max, .. } => format!("the app answered more than {max} bytes"),
        OutboundError::BadUrl(_) | OutboundError::Unreachable { .. } => {
            "the app cannot be reached".to_owned()
        }
    }
}
