//! `nexus.auth`: verifies the caller before query planning and hands the subgraphs a token.
//!
//! - `Authorization: Bearer <jwt>`: verified (EdDSA, issuer, audience, expiry) against the key file.
//! - `X-Api-Key: nxk_…`: exchanged at identity for a short-lived token; the answer (either way) is
//!   cached for at most `api_key_cache_seconds` (5 by default), so a revoked key stops working
//!   within that.
//! - neither: anonymous; the subgraphs decide what is public.
//!
//! A bad credential is HTTP 401 with one GraphQL error, code `UNAUTHENTICATED`. An installation
//! token must also still be live (its installation active, its app published, its scopes still
//! granted: a cached lookup at the apps service). The verified claims go into the request context
//! once (a typed `request_context::Caller`, read by `nexus.installation_gate` and
//! `nexus.rate_limit`); the token reaches core
//! subgraphs as `Authorization: Bearer`, and they verify it again. The router also serves the
//! public keys (`/.well-known/jwks.json`) and OIDC-style discovery.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use apollo_router::graphql;
use apollo_router::layers::ServiceBuilderExt;
use apollo_router::plugin::{Plugin, PluginInit};
use apollo_router::services::{router, subgraph};
use apollo_router::{Endpoint, ListenAddr, register_plugin};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use multimap::MultiMap;
use nexus_protocol::client_address::{self, CLIENT_ADDRESS_HEADER};
use nexus_protocol::token::{CORE_AUDIENCE, Claims, LEEWAY_SECONDS, TokenError, TokenType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::lookups::{Lookups, LookupsConfig};
use crate::plugins::request_context::{self, Caller};
use nexus_protocol::internal::api_key::{self, Exchanged, Refused};
use nexus_protocol::internal::membership::MembershipAnswer;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The keys, the issuer and the lookups at the services, shared with
    /// `nexus.installation_gate` (the `iss` of every token is also the OIDC issuer).
    pub lookups: LookupsConfig,
    /// identity's `POST /api-keys/exchange`.
    pub api_key_exchange_url: String,
    /// The router's own listen address, where the well-known endpoints are served.
    pub listen: String,
    /// Subgraphs of the core: they get the caller's token (apps get a context token from
    /// `nexus.installation_gate` instead).
    pub core_subgraphs: Vec<String>,
    /// How long an API-key exchange (or refusal) is trusted.
    #[serde(default = "defaults::api_key_cache_seconds")]
    pub api_key_cache_seconds: u64,
    /// How long a verified bearer token is remembered: a client sends the same token many times,
    /// and its signature needs checking once (its expiry is checked every time).
    #[serde(default = "defaults::verified_token_cache_seconds")]
    pub verified_token_cache_seconds: u64,
}

mod defaults {
    use nexus_protocol::freshness::Freshness;

    pub fn api_key_cache_seconds() -> u64 {
        Freshness::default().api_keys.as_secs()
    }
    pub fn verified_token_cache_seconds() -> u64 {
        Freshness::default().verified_tokens.as_secs()
    }
}

struct Shared {
    /// The key store, the installation directory and the membership view, shared with
    /// `nexus.installation_gate`.
    lookups: Arc<Lookups>,
    exchange_url: String,
    /// API key → its exchanged token and that token's verified claims, or why not.
    api_keys: moka::future::Cache<String, Result<(String, Claims), String>>,
    /// Bearer token → its verified claims (valid signature, issuer and audience).
    verified: moka::future::Cache<String, Claims>,
    /// Client address → API keys refused in the last minute: past `MAX_BAD_API_KEYS`, keys
    /// from that address are not asked of identity at all (each costs a call and a query).
    bad_api_keys: moka::future::Cache<String, Arc<std::sync::atomic::AtomicU32>>,
}

/// Refused API keys one client address may present in a minute before its keys are no longer
/// checked (`RATE_LIMITED`); a key exchanged already (cached) still works.
pub const MAX_BAD_API_KEYS: u32 = 20;

/// Whether `key` has the shape of a Nexus API key (`nxk_` and 43 URL-safe characters): anything
/// else is refused without asking identity.
fn looks_like_an_api_key(key: &str) -> bool {
    key.strip_prefix("nxk_").is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

pub struct Auth {
    shared: Arc<Shared>,
    listen: ListenAddr,
    issuer: String,
    core_subgraphs: Vec<String>,
}

#[async_trait::async_trait]
impl Plugin for Auth {
    type Config = AuthConfig;

    async fn new(init: PluginInit<Self::Config>) -> Result<Self, BoxError> {
        let config = init.config;
        let lookups = Lookups::shared(&config.lookups, &init.supergraph_sdl)
            .map_err(|e| format!("nexus.auth: {e}"))?;
        let listen: std::net::SocketAddr = config
            .listen
            .parse()
            .map_err(|e| format!("nexus.auth: listen `{}`: {e}", config.listen))?;
        Ok(Auth {
            core_subgraphs: config.core_subgraphs,
            shared: Arc::new(Shared {
                lookups,
                exchange_url: config.api_key_exchange_url,
                api_keys: moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_secs(config.api_key_cache_seconds))
                    .build(),
                verified: moka::future::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(Duration::from_secs(config.verified_token_cache_seconds))
                    .build(),
                bad_api_keys: moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_secs(60))
                    .build(),
            }),
            listen: listen.into(),
            issuer: config.lookups.issuer,
        })
    }

    fn router_service(&self, service: router::BoxService) -> router::BoxService {
        let shared = self.shared.clone();
        ServiceBuilder::new()
            .checkpoint_async(move |request: router::Request| {
                let shared = shared.clone();
                async move { Ok(authenticate(&shared, request).await) }
            })
            .buffered()
            .service(service)
            .boxed()
    }

    fn subgraph_service(&self, name: &str, service: subgraph::BoxService) -> subgraph::BoxService {
        if !self.core_subgraphs.iter().any(|core| core == name) {
            // An app: `nexus.installation_gate` decides, and hands it a context token instead.
            return service;
        }
        ServiceBuilder::new()
            .map_request(|mut request: subgraph::Request| {
                let token = request_context::caller(&request.context).map(|c| c.token);
                let headers = request.subgraph_request.headers_mut();
                headers.remove(AUTHORIZATION);
                if let Some(value) =
                    token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
                {
                    headers.insert(AUTHORIZATION, value);
                }
                // Identity names a session by the device it was signed in on.
                if let Some(agent) = request
                    .supergraph_request
                    .headers()
                    .get(http::header::USER_AGENT)
                    .cloned()
                {
                    request
                        .subgraph_request
                        .headers_mut()
                        .insert(http::header::USER_AGENT, agent);
                }
                // Identity and licensing rate-limit per client address (resolved by the front
                // door, which replaces whatever a client sent under this name).
                if let Some(address) = request
                    .supergraph_request
                    .headers()
                    .get(CLIENT_ADDRESS_HEADER)
                    .cloned()
                {
                    request
                        .subgraph_request
                        .headers_mut()
                        .insert(CLIENT_ADDRESS_HEADER, address);
                }
                request
            })
            .service(service)
            .boxed()
    }

    fn web_endpoints(&self) -> MultiMap<ListenAddr, Endpoint> {
        let mut endpoints = MultiMap::new();
        let keys = self.shared.lookups.keys.clone();
        endpoints.insert(
            self.listen.clone(),
            Endpoint::from_router_service(
                "/.well-known/jwks.json".to_owned(),
                json_endpoint(move || keys.jwks()),
            ),
        );
        // The same metadata as OpenID Connect Discovery and as RFC 8414 (authorization server
        // metadata).
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let issuer = self.issuer.clone();
            endpoints.insert(
                self.listen.clone(),
                Endpoint::from_router_service(
                    path.to_owned(),
                    json_endpoint(move || nexus_protocol::oauth::metadata(&issuer)),
                ),
            );
        }
        endpoints
    }
}

fn json_endpoint(
    document: impl Fn() -> serde_json::Value + Send + Sync + Clone + 'static,
) -> router::BoxService {
    tower::service_fn(move |request: router::Request| {
        let body = document().to_string();
        async move {
            let response = http::Response::builder()
                .status(StatusCode::OK)
                .header(CONTENT_TYPE, "application/json")
                .header("cache-control", "public, max-age=60")
                .body(router::body::from_bytes(body))?;
            router::Response::http_response_builder()
                .response(response)
                .context(request.context)
                .build()
        }
    })
    .boxed()
}

async fn authenticate(
    shared: &Shared,
    request: router::Request,
) -> ControlFlow<router::Response, router::Request> {
    let headers = request.router_request.headers();
    let (token, claims, membership) = if let Some(value) = headers.get(AUTHORIZATION) {
        let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
            return refuse(request, "expected `Authorization: Bearer <token>`");
        };
        let token = token.trim().to_owned();
        let claims = match verify(shared, &token).await {
            Ok(claims) => claims,
            Err(e) => return refuse(request, &e.to_string()),
        };
        if matches!(claims.typ, TokenType::Installation | TokenType::Delegated)
            && let Err(message) = installation_is_live(shared, &claims).await
        {
            return refuse(request, &message);
        }
        match two_factor_missing(shared, &claims).await {
            Ok((false, membership)) => (token, claims, membership),
            Ok((true, _)) => {
                return refuse_with(
                    request,
                    StatusCode::FORBIDDEN,
                    "TWO_FACTOR_REQUIRED",
                    "the organization this token acts in requires two-factor sign-in: refresh the session (it will act elsewhere), turn two-factor sign-in on, and sign in again with a code",
                );
            }
            Err(message) => {
                return refuse_with(
                    request,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    &message,
                );
            }
        }
    } else if let Some(value) = headers.get("x-api-key") {
        let key = value.to_str().unwrap_or_default().trim().to_owned();
        if !looks_like_an_api_key(&key) {
            return refuse(request, "the API key is invalid, expired or revoked");
        }
        let address = headers
            .get(CLIENT_ADDRESS_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(client_address::address_part)
            .unwrap_or("unknown")
            .to_owned();
        let refused_here = shared
            .bad_api_keys
            .get_with(address.clone(), async { Arc::default() })
            .await;
        let spent = refused_here.load(std::sync::atomic::Ordering::Relaxed) >= MAX_BAD_API_KEYS;
        if spent && !shared.api_keys.contains_key(&key) {
            return refuse_with(
                request,
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many invalid API keys from your address; try again in a minute",
            );
        }
        match exchange(shared, key).await {
            Ok((token, claims)) => (token, claims, None),
            Err(message) => {
                refused_here.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return refuse(request, &message);
            }
        }
    } else {
        return ControlFlow::Continue(request);
    };
    request_context::put(
        &request.context,
        Caller {
            token: Arc::from(token),
            claims: Arc::new(claims),
            membership,
        },
    );
    ControlFlow::Continue(request)
}

/// Whether a user's token (or an app's acting for a user) acts in an organization that requires
/// two-factor sign-in, from a session without it; with identity's answer, when it was asked.
/// Asked of identity, cached for `membership_cache_seconds`; tokens with a second factor cost
/// nothing here.
async fn two_factor_missing(
    shared: &Shared,
    claims: &Claims,
) -> Result<(bool, Option<MembershipAnswer>), String> {
    let (Some(memberships), Some(org)) = (&shared.lookups.memberships, &claims.org) else {
        return Ok((false, None));
    };
    if !matches!(claims.typ, TokenType::Access | TokenType::Delegated) || claims.two_factor() {
        return Ok((false, None));
    }
    let answer = memberships.of(&claims.sub, org).await?;
    Ok((answer.two_factor_required, Some(answer)))
}

/// `token` verified (signature, issuer, audience) once per `verified_token_cache_seconds`; its expiry at
/// every call.
async fn verify(shared: &Shared, token: &str) -> Result<Claims, TokenError> {
    if let Some(claims) = shared.verified.get(token).await {
        let now = chrono::Utc::now().timestamp();
        return if claims.exp + LEEWAY_SECONDS as i64 >= now {
            Ok(claims)
        } else {
            Err(TokenError::Expired)
        };
    }
    let claims = shared.lookups.keys.verify(token, CORE_AUDIENCE)?;
    shared
        .verified
        .insert(token.to_owned(), claims.clone())
        .await;
    Ok(claims)
}

/// An installation token (or an app's token acting for a user) works while its installation is
/// active, its app published, and every scope it carries still granted — and a delegated token
/// while the grant it came from is not revoked (checked through the cached directory: within
/// seconds).
async fn installation_is_live(shared: &Shared, claims: &Claims) -> Result<(), String> {
    let stale = "the installation this token was issued for was uninstalled, suspended or had scopes taken away, or the authorization was revoked: get a new token";
    let id = claims
        .inst
        .as_deref()
        .and_then(|i| uuid::Uuid::parse_str(i).ok())
        .ok_or("an app's token without an installation")?;
    let grant = match claims.gid.as_deref() {
        Some(gid) => Some(uuid::Uuid::parse_str(gid).map_err(|_| "a malformed grant id")?),
        None => None,
    };
    let app = match claims.typ {
        TokenType::Delegated => claims.client_id.as_deref().unwrap_or_default(),
        _ => claims.sub.as_str(),
    };
    let installation = shared
        .lookups
        .installations
        .by_id(id, grant)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "installation lookup failed");
            "cannot check the installation token now; try again".to_owned()
        })?
        .ok_or(stale)?;
    let belongs = installation.app_id.to_string() == app
        && claims.org.as_deref() == Some(installation.organization_id.to_string().as_str());
    // OpenID Connect's scopes (`openid`, `email`, …) are the user's, not the installation's.
    let covered = claims
        .scopes
        .iter()
        .filter(|s| nexus_protocol::scopes::is_known(s))
        .all(|s| installation.scopes.contains(s));
    if installation.live && belongs && covered {
        Ok(())
    } else {
        Err(stale.to_owned())
    }
}

/// An API key's token from identity, verified, cached (success and refusal alike) for
/// `api_key_cache_seconds`.
async fn exchange(shared: &Shared, key: String) -> Result<(String, Claims), String> {
    let http = shared.lookups.http.clone();
    let url = shared.exchange_url.clone();
    let keys = shared.lookups.keys.clone();
    shared
        .api_keys
        .get_with(key.clone(), async move {
            let response = http
                .post(&url)
                .header(api_key::HEADER, key)
                .send()
                .await
                .map_err(|e| format!("cannot check the API key now: {e}"))?;
            if response.status().is_success() {
                let Exchanged { token, .. } = response
                    .json()
                    .await
                    .map_err(|e| format!("cannot check the API key now: {e}"))?;
                let claims = keys
                    .verify(&token, CORE_AUDIENCE)
                    .map_err(|e| format!("the API key exchange answered a bad token: {e}"))?;
                Ok((token, claims))
            } else {
                let Refused { error } = response
                    .json()
                    .await
                    .map_err(|e| format!("cannot check the API key now: {e}"))?;
                Err(error)
            }
        })
        .await
}

fn refuse(
    request: router::Request,
    message: &str,
) -> ControlFlow<router::Response, router::Request> {
    refuse_with(
        request,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        message,
    )
}

fn refuse_with(
    request: router::Request,
    status: StatusCode,
    code: &str,
    message: &str,
) -> ControlFlow<router::Response, router::Request> {
    let error = graphql::Error::builder()
        .message(message.to_owned())
        .extension_code(code.to_owned())
        .build();
    match router::Response::error_builder()
        .error(error)
        .status_code(status)
        .header("www-authenticate", "Bearer")
        .context(request.context)
        .build()
    {
        Ok(response) => ControlFlow::Break(response),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the 401 response");
            // Never let an unverified request through.
            ControlFlow::Break(
                router::Response::error_builder()
                    .errors(Vec::new())
                    .status_code(StatusCode::UNAUTHORIZED)
                    .context(apollo_router::Context::new())
                    .build()
                    .unwrap_or_else(|_| unreachable!("an empty 401 always builds")),
            )
        }
    }
}

register_plugin!("nexus", "auth", Auth);
