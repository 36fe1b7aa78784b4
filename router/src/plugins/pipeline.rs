//! `nexus.pipeline`: hands each router pipeline apollo-router builds to the public port (see
//! `crate::pipeline`). First in `plugins`, so every other Nexus plugin is inside what it hands
//! over. apollo-router's own router-stage plugins sit outside it; the public port does what Nexus
//! relies on of them itself (CSRF preflight, the router timeout, compression).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use apollo_router::graphql;
use apollo_router::layers::ServiceBuilderExt;
use apollo_router::plugin::{Plugin, PluginInit};
use apollo_router::register_plugin;
use apollo_router::services::router;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::pipeline::{self, Slot};

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Set by `nexus`: the router whose public port serves this pipeline (none: nothing to do).
    pub router: Option<String>,
    /// Set by `nexus` from `traffic_shaping.router.timeout`: how long a request may take.
    pub timeout_ms: Option<u64>,
}

pub struct Pipeline {
    slot: Option<Arc<Slot>>,
    timeout: Duration,
}

/// apollo-router's default for `traffic_shaping.router.timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Content types a browser may send cross-site without asking first (CORS "simple" requests).
const SIMPLE_CONTENT_TYPES: [&str; 3] = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];
/// Headers no cross-site form can set; either one proves the request was preflighted.
const PREFLIGHT_HEADERS: [&str; 2] = ["x-apollo-operation-name", "apollo-require-preflight"];

#[async_trait::async_trait]
impl Plugin for Pipeline {
    type Config = PipelineConfig;

    async fn new(init: PluginInit<Self::Config>) -> Result<Self, BoxError> {
        let slot = match &init.config.router {
            Some(name) => Some(
                pipeline::find(name)
                    .ok_or_else(|| format!("nexus.pipeline: no router named `{name}`"))?,
            ),
            None => None,
        };
        let timeout = init
            .config
            .timeout_ms
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        Ok(Pipeline { slot, timeout })
    }

    fn router_service(&self, service: router::BoxService) -> router::BoxService {
        let Some(slot) = &self.slot else {
            return service;
        };
        // Shared between apollo-router's own listener and the public port.
        let shared = ServiceBuilder::new().buffered().service(service);
        let timeout = self.timeout;
        // What apollo-router's own listener applies before this point and Nexus relies on.
        let public = ServiceBuilder::new()
            .checkpoint(refuse_unless_preflighted)
            .service(shared.clone())
            .map_future(move |answer| async move {
                match tokio::time::timeout(timeout, answer).await {
                    Ok(answer) => answer,
                    Err(_) => timed_out(),
                }
            });
        slot.replace(public.boxed_clone());
        shared.boxed()
    }
}

/// apollo-router's CSRF rule: a request a browser could send cross-site without a preflight (no
/// content type, or a "simple" one, and none of the preflight headers) is refused.
fn refuse_unless_preflighted(
    request: router::Request,
) -> Result<ControlFlow<router::Response, router::Request>, BoxError> {
    let headers = request.router_request.headers();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .filter(|essence| essence.contains('/'));
    let preflighted = content_type.is_some_and(|ct| !SIMPLE_CONTENT_TYPES.contains(&ct.as_str()))
        || PREFLIGHT_HEADERS.iter().any(|h| headers.contains_key(*h));
    if preflighted {
        return Ok(ControlFlow::Continue(request));
    }
    let error = graphql::Error::builder()
        .message(format!(
            "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). \
             Please either specify a 'content-type' header (with a mime-type that is not one of {}) \
             or provide one of the following headers: {}",
            SIMPLE_CONTENT_TYPES.join(", "),
            PREFLIGHT_HEADERS.join(", ")
        ))
        .extension_code("CSRF_ERROR")
        .build();
    Ok(ControlFlow::Break(
        router::Response::error_builder()
            .error(error)
            .status_code(StatusCode::BAD_REQUEST)
            .context(request.context)
            .build()?,
    ))
}

fn timed_out() -> Result<router::Response, BoxError> {
    router::Response::error_builder()
        .error(
            graphql::Error::builder()
                .message("Your request has been timed out")
                .extension_code("GATEWAY_TIMEOUT")
                .build(),
        )
        .status_code(StatusCode::GATEWAY_TIMEOUT)
        .context(apollo_router::Context::new())
        .build()
}

register_plugin!("nexus", "pipeline", Pipeline);
