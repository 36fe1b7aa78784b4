//! `nexus.rate_limit`: every caller has a budget, and each operation costs its estimated cost
//! (from `nexus.limits`; at least 1). Callers are counted by who they are: a user, an API key, an
//! installation (an app in one organization), or — anonymous — the client's address (as the
//! front door resolved it, behind trusted proxies only). The buckets live in the store the
//! platform shares (`nexus_protocol::rate_limit`: Redis when `redis_url` is set, else this
//! process).
//!
//! Every answer carries `RateLimit-Policy` and `RateLimit` (IETF httpapi draft: the policy's
//! quota `q` per window `w` seconds; what `r`emains and the seconds `t` until it is whole again).
//! Over budget: HTTP 429, `Retry-After`, one error `RATE_LIMITED` with `retryAfterSeconds`.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, LazyLock, Mutex};

use apollo_router::graphql;
use apollo_router::layers::ServiceBuilderExt;
use apollo_router::plugin::{Plugin, PluginInit};
use apollo_router::register_plugin;
use apollo_router::services::supergraph;
use http::{HeaderValue, StatusCode};
use nexus_protocol::client_address::{self, CLIENT_ADDRESS_HEADER};
use nexus_protocol::rate_limit::{Bucket, RateLimits, Verdict, key};
use nexus_protocol::token::TokenType;
use schemars::JsonSchema;
use serde::Deserialize;
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::measure::Measurement;
use crate::plugins::request_context;

/// Budgets per kind of caller; `apps` overrides `installation` for one app's tokens (by app id).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub user: Bucket,
    pub api_key: Bucket,
    pub installation: Bucket,
    pub anonymous: Bucket,
    pub apps: BTreeMap<String, Bucket>,
    /// Set by `nexus`: which of the process's stores (see `register_store`) holds the buckets.
    pub store: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            user: Bucket::new(20_000, 60),
            api_key: Bucket::new(50_000, 60),
            installation: Bucket::new(50_000, 60),
            anonymous: Bucket::new(2_000, 60),
            apps: BTreeMap::new(),
            store: None,
        }
    }
}

/// The stores of this process by name: a router reloading its plugins keeps counting in the
/// same buckets (and the same Redis connection).
static STORES: LazyLock<Mutex<HashMap<String, RateLimits>>> = LazyLock::new(Default::default);

/// Makes `store` available to `nexus.rate_limit` under `name` (its `store` setting).
pub fn register_store(name: &str, store: RateLimits) {
    if let Ok(mut stores) = STORES.lock() {
        stores.insert(name.to_owned(), store);
    }
}

/// Forgets a store (the router that used it has stopped).
pub fn unregister_store(name: &str) {
    if let Ok(mut stores) = STORES.lock() {
        stores.remove(name);
    }
}

struct Shared {
    config: RateLimitConfig,
    store: RateLimits,
}

pub struct RateLimit {
    shared: Arc<Shared>,
}

/// This request's verdict, kept in the request context for the answer's headers.
#[derive(Clone, Debug)]
struct Charged {
    policy: String,
    bucket: Bucket,
    remaining: u64,
    reset_seconds: u64,
}

#[async_trait::async_trait]
impl Plugin for RateLimit {
    type Config = RateLimitConfig;

    async fn new(init: PluginInit<Self::Config>) -> Result<Self, BoxError> {
        let config = init.config;
        let store = match &config.store {
            Some(name) => STORES
                .lock()
                .map_err(|_| "nexus.rate_limit: the store registry is poisoned")?
                .get(name)
                .cloned()
                .ok_or_else(|| format!("nexus.rate_limit: no store named `{name}`"))?,
            None => RateLimits::in_memory(),
        };
        Ok(RateLimit {
            shared: Arc::new(Shared { config, store }),
        })
    }

    fn supergraph_service(&self, service: supergraph::BoxService) -> supergraph::BoxService {
        if !self.shared.config.enabled {
            return service;
        }
        let shared = self.shared.clone();
        ServiceBuilder::new()
            .map_response(|mut response: supergraph::Response| {
                if let Some(charged) = request_context::get::<Charged>(&response.context) {
                    let headers = response.response.headers_mut();
                    for (name, value) in rate_headers(&charged) {
                        headers.insert(name, value);
                    }
                }
                response
            })
            .checkpoint_async(move |request: supergraph::Request| {
                let shared = shared.clone();
                async move { charge(&shared, request).await }
            })
            .buffered()
            .service(service)
            .boxed()
    }
}

/// The caller's bucket: (policy name, key, budget).
fn principal(config: &RateLimitConfig, request: &supergraph::Request) -> (String, String, Bucket) {
    let claims = request_context::caller(&request.context).map(|c| c.claims);
    match claims.as_deref() {
        Some(c) if c.typ == TokenType::Access => {
            ("user".into(), key("user", &[&c.sub]), config.user)
        }
        Some(c) if c.typ == TokenType::ApiKey => {
            ("api_key".into(), key("api_key", &[&c.sub]), config.api_key)
        }
        // An app's traffic counts against its installation, whichever user it acts for.
        Some(c) if matches!(c.typ, TokenType::Installation | TokenType::Delegated) => {
            let app = match c.typ {
                TokenType::Delegated => c.client_id.as_deref().unwrap_or_default(),
                _ => c.sub.as_str(),
            };
            let org = c.org.as_deref().unwrap_or_default();
            let (policy, bucket) = match config.apps.get(app) {
                Some(bucket) => ("app", *bucket),
                None => ("installation", config.installation),
            };
            (policy.into(), key("installation", &[app, org]), bucket)
        }
        _ => {
            let address = request
                .supergraph_request
                .headers()
                .get(CLIENT_ADDRESS_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(client_address::address_part)
                .unwrap_or("unknown");
            (
                "anonymous".into(),
                key("anonymous", &[address]),
                config.anonymous,
            )
        }
    }
}

async fn charge(
    shared: &Shared,
    request: supergraph::Request,
) -> Result<ControlFlow<supergraph::Response, supergraph::Request>, BoxError> {
    let (policy, key, bucket) = principal(&shared.config, &request);
    let cost = request_context::get::<Measurement>(&request.context).map_or(1, |m| m.cost.max(1));
    let verdict: Verdict = shared.store.take(&key, cost, bucket).await;
    let charged = Charged {
        policy,
        bucket,
        remaining: verdict.remaining,
        reset_seconds: verdict.reset.as_secs_f64().ceil() as u64,
    };
    if verdict.allowed {
        request_context::put(&request.context, charged);
        return Ok(ControlFlow::Continue(request));
    }
    let retry = verdict.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let error = graphql::Error::builder()
        .message(format!(
            "rate limited: this operation costs {cost} and the {} budget ({} per {} s) has {} left; try again in {retry} seconds",
            charged.policy, bucket.capacity, bucket.per_seconds, verdict.remaining
        ))
        .extension_code("RATE_LIMITED")
        .extension("retryAfterSeconds", retry)
        .extension("cost", cost)
        .build();
    let mut response = supergraph::Response::error_builder()
        .error(error)
        .status_code(StatusCode::TOO_MANY_REQUESTS)
        .context(request.context)
        .build()?;
    let headers = response.response.headers_mut();
    for (name, value) in rate_headers(&charged) {
        headers.insert(name, value);
    }
    if let Ok(value) = HeaderValue::from_str(&retry.to_string()) {
        headers.insert(http::header::RETRY_AFTER, value);
    }
    Ok(ControlFlow::Break(response))
}

fn rate_headers(charged: &Charged) -> Vec<(http::HeaderName, HeaderValue)> {
    let policy = format!(
        "\"{}\";q={};w={}",
        charged.policy, charged.bucket.capacity, charged.bucket.per_seconds
    );
    let state = format!(
        "\"{}\";r={};t={}",
        charged.policy, charged.remaining, charged.reset_seconds
    );
    [("ratelimit-policy", policy), ("ratelimit", state)]
        .into_iter()
        .filter_map(|(name, value)| {
            HeaderValue::from_str(&value)
                .ok()
                .map(|v| (http::HeaderName::from_static(name), v))
        })
        .collect()
}

register_plugin!("nexus", "rate_limit", RateLimit);
