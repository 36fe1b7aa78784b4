//! `nexus.limits`: refuses operations too large to be anyone's honest query, before they are
//! planned: request bytes (from `Content-Length`, before the body is read), then, on the parsed
//! operation (`crate::measure`), depth, fields, aliases, root fields, lexical tokens and estimated
//! cost. Each refusal is HTTP 400 with one error per limit exceeded, a stable code
//! (`MAX_DEPTH_EXCEEDED`, …, `COST_LIMIT_EXCEEDED`) and `measured`/`limit` in its extensions.
//!
//! `mode: measure` lets everything through and logs what enforcing would have refused: a way to
//! learn what real traffic looks like before tightening a limit. Either way the measurement goes
//! into the request context (typed, `request_context`), where `nexus.rate_limit` charges its
//! cost.

use std::ops::ControlFlow;
use std::sync::Arc;

use apollo_compiler::Schema;
use apollo_compiler::validation::Valid;
use apollo_router::graphql;
use apollo_router::layers::ServiceBuilderExt;
use apollo_router::plugin::{Plugin, PluginInit};
use apollo_router::register_plugin;
use apollo_router::services::{router, supergraph};
use http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::measure::{Analyzed, Measurement};
use crate::plugins::request_context;

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Refuse what is over a limit.
    #[default]
    Enforce,
    /// Let everything through; log what `enforce` would refuse.
    Measure,
}

/// The limits; the defaults are far above what the console or a well-behaved app asks.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Off: no measuring at all (benchmarks compare with it).
    pub enabled: bool,
    pub mode: Mode,
    /// Nested fields, counting the root field as 1.
    pub max_depth: u64,
    /// Fields selected, fragments expanded.
    pub max_height: u64,
    pub max_aliases: u64,
    pub max_root_fields: u64,
    /// Lexical tokens of the document, whitespace included, as apollo-router's parser counts
    /// them (its own parser stops at twice this).
    pub max_tokens: u64,
    /// The request body, from its `Content-Length` (the router's own reader stops bodies of any
    /// kind at twice this).
    pub max_request_bytes: u64,
    /// Estimated objects loaded (see `crate::measure`).
    pub max_cost: u64,
    /// Assumed length of a list without a page size, in the cost.
    pub default_list_size: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            enabled: true,
            mode: Mode::Enforce,
            max_depth: 20,
            max_height: 1_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_tokens: 10_000,
            max_request_bytes: 1_000_000,
            max_cost: 20_000,
            default_list_size: crate::measure::DEFAULT_LIST_SIZE,
        }
    }
}

impl LimitsConfig {
    /// Each limit `measurement` exceeds: (code, measured, limit).
    pub fn exceeded(&self, m: &Measurement) -> Vec<(&'static str, u64, u64)> {
        [
            ("MAX_DEPTH_EXCEEDED", m.depth, self.max_depth),
            ("MAX_HEIGHT_EXCEEDED", m.height, self.max_height),
            ("MAX_ALIASES_EXCEEDED", m.aliases, self.max_aliases),
            (
                "MAX_ROOT_FIELDS_EXCEEDED",
                m.root_fields,
                self.max_root_fields,
            ),
            ("MAX_TOKENS_EXCEEDED", m.tokens, self.max_tokens),
            ("COST_LIMIT_EXCEEDED", m.cost, self.max_cost),
        ]
        .into_iter()
        .filter(|(_, measured, limit)| measured > limit)
        .collect()
    }
}

struct Shared {
    config: LimitsConfig,
    schema: Valid<Schema>,
    /// Query text → its parsed document: clients send the same few queries again and again.
    parsed: moka::sync::Cache<String, Arc<Result<Analyzed, String>>>,
}

pub struct Limits {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl Plugin for Limits {
    type Config = LimitsConfig;

    async fn new(init: PluginInit<Self::Config>) -> Result<Self, BoxError> {
        let schema = Schema::parse_and_validate(init.supergraph_sdl.as_str(), "supergraph.graphql")
            .map_err(|e| format!("nexus.limits: the supergraph: {}", e.errors))?;
        Ok(Limits {
            shared: Arc::new(Shared {
                config: init.config,
                schema,
                parsed: moka::sync::Cache::builder()
                    // Weighed by query length: at most ~32 MB of query text.
                    .weigher(|query: &String, _| u32::try_from(query.len()).unwrap_or(u32::MAX))
                    .max_capacity(32 * 1024 * 1024)
                    .build(),
            }),
        })
    }

    fn router_service(&self, service: router::BoxService) -> router::BoxService {
        if !self.shared.config.enabled {
            return service;
        }
        let shared = self.shared.clone();
        ServiceBuilder::new()
            .checkpoint(move |request: router::Request| {
                let length = request
                    .router_request
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let limit = shared.config.max_request_bytes;
                match length {
                    Some(length) if length > limit && shared.config.mode == Mode::Enforce => {
                        let error = limit_error("MAX_REQUEST_BYTES_EXCEEDED", length, limit);
                        Ok(ControlFlow::Break(
                            router::Response::error_builder()
                                .error(error)
                                // Not 413: apollo-router replaces any 413 with its own answer.
                                .status_code(StatusCode::BAD_REQUEST)
                                .context(request.context)
                                .build()?,
                        ))
                    }
                    Some(length) if length > limit => {
                        tracing::warn!(
                            length,
                            limit,
                            "nexus.limits (measure): would refuse the request's size"
                        );
                        Ok(ControlFlow::Continue(request))
                    }
                    _ => Ok(ControlFlow::Continue(request)),
                }
            })
            .service(service)
            .boxed()
    }

    fn supergraph_service(&self, service: supergraph::BoxService) -> supergraph::BoxService {
        if !self.shared.config.enabled {
            return service;
        }
        let shared = self.shared.clone();
        ServiceBuilder::new()
            .checkpoint(move |request: supergraph::Request| check(&shared, request))
            .service(service)
            .boxed()
    }
}

fn check(
    shared: &Shared,
    request: supergraph::Request,
) -> Result<ControlFlow<supergraph::Response, supergraph::Request>, BoxError> {
    let body = request.supergraph_request.body();
    let Some(query) = body.query.as_deref() else {
        return Ok(ControlFlow::Continue(request));
    };
    let analyzed = shared
        .parsed
        .get_with_by_ref(query, || Arc::new(Analyzed::parse(&shared.schema, query)));
    let measured = match analyzed.as_ref() {
        Ok(a) => a.measure(
            body.operation_name.as_deref(),
            &body.variables,
            shared.config.default_list_size,
        ),
        Err(e) => Err(e.clone()),
    };
    let measurement = match measured {
        Ok(measurement) => measurement,
        Err(e) => {
            // The router validated this document already; let it explain whatever is wrong.
            tracing::debug!(error = %e, "nexus.limits: cannot measure the operation");
            return Ok(ControlFlow::Continue(request));
        }
    };
    request_context::put(&request.context, measurement);
    let exceeded = shared.config.exceeded(&measurement);
    if exceeded.is_empty() {
        return Ok(ControlFlow::Continue(request));
    }
    if shared.config.mode == Mode::Measure {
        let codes: Vec<_> = exceeded.iter().map(|(code, ..)| *code).collect();
        tracing::warn!(
            ?codes,
            ?measurement,
            operation = body.operation_name.as_deref().unwrap_or(""),
            "nexus.limits (measure): would refuse this operation"
        );
        return Ok(ControlFlow::Continue(request));
    }
    let errors = exceeded
        .into_iter()
        .map(|(code, measured, limit)| limit_error(code, measured, limit))
        .collect();
    Ok(ControlFlow::Break(
        supergraph::Response::error_builder()
            .errors(errors)
            .status_code(StatusCode::BAD_REQUEST)
            .context(request.context)
            .build()?,
    ))
}

fn limit_error(code: &'static str, measured: u64, limit: u64) -> graphql::Error {
    let what = match code {
        "MAX_DEPTH_EXCEEDED" => format!("fields nest {measured} levels deep"),
        "MAX_HEIGHT_EXCEEDED" => format!("the operation selects {measured} fields"),
        "MAX_ALIASES_EXCEEDED" => format!("the operation uses {measured} aliases"),
        "MAX_ROOT_FIELDS_EXCEEDED" => format!("the operation asks for {measured} root fields"),
        "MAX_TOKENS_EXCEEDED" => format!("the document has {measured} tokens"),
        "MAX_REQUEST_BYTES_EXCEEDED" => format!("the request has {measured} bytes"),
        _ => format!("the operation may load an estimated {measured} objects"),
    };
    graphql::Error::builder()
        .message(format!("operation refused: {what}; the limit is {limit}"))
        .extension_code(code)
        .extension("measured", measured)
        .extension("limit", limit)
        .build()
}

register_plugin!("nexus", "limits", Limits);
