//! `nexus.installation_gate`: the router's only way to an app subgraph. A call reaches an app only
//! for a user token or an API key acting in an organization where the app is installed and live
//! (or for the app's own installation token); else the fetch is not made and the app's fields
//! resolve to null with `APP_NOT_INSTALLED` (or `FORBIDDEN` for a token that may never call it).
//! The app receives a context token minted for it — `aud` = its namespace; user, role,
//! organization, installation, and the scopes both the installation granted and the caller
//! holds; 5 minutes — and never the client's own token. A user's role is the one identity gives now
//! (`crate::memberships`, cached `caches.membership_seconds`), not the token's: a demoted admin is
//! told to apps as a member, a removed member is refused (`FORBIDDEN`) within seconds. The call itself goes through Nexus's
//! outbound client (`app_client`), never apollo-router's own HTTP client. The caller's claims are
//! the ones `nexus.auth` verified and put in the request context: no token is verified twice.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use apollo_router::graphql;
use apollo_router::plugin::{Plugin, PluginInit};
use apollo_router::register_plugin;
use apollo_router::services::subgraph;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use nexus_protocol::token::{Claims, TokenType, new_claims};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower::{BoxError, ServiceExt};
use uuid::Uuid;

use super::request_context::{self, Caller};
use crate::app_client::AppClient;
use crate::app_plane::{self, map::PlaneMap};
use crate::lookups::{Lookups, LookupsConfig};

/// The default lifetime of a context token.
pub const CONTEXT_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);

fn default_context_token_ttl_seconds() -> u64 {
    CONTEXT_TOKEN_TTL.as_secs()
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// The keys (context tokens are signed with them), the issuer and the lookups at the
    /// services, shared with `nexus.auth`.
    pub lookups: LookupsConfig,
    /// Subgraphs of the core; every other subgraph is an app behind the gate.
    pub core_subgraphs: Vec<String>,
    /// Let the router call apps on loopback and private addresses (development).
    #[serde(default)]
    pub allow_private_apps: bool,
    /// How long a context token lives.
    #[serde(default = "default_context_token_ttl_seconds")]
    pub context_token_ttl_seconds: u64,
}

pub struct InstallationGate {
    core_subgraphs: Vec<String>,
    gate: Arc<Gate>,
    /// The app plane of the supergraph this pipeline serves, if it has one.
    plane: Option<Arc<PlaneMap>>,
}

#[async_trait::async_trait]
impl Plugin for InstallationGate {
    type Config = GateConfig;

    async fn new(init: PluginInit<Self::Config>) -> Result<Self, BoxError> {
        let config = init.config;
        let fail = |e: String| format!("nexus.installation_gate: {e}");
        let plane = PlaneMap::read(&init.supergraph_sdl)
            .map_err(fail)?
            .map(Arc::new);
        Ok(InstallationGate {
            plane,
            core_subgraphs: config.core_subgraphs,
            gate: Arc::new(Gate {
                context_ttl: Duration::from_secs(config.context_token_ttl_seconds),
                lookups: Lookups::shared(&config.lookups, &init.supergraph_sdl).map_err(fail)?,
                client: AppClient::new(config.allow_private_apps)
                    .map_err(|e| fail(format!("{e:#}")))?,
            }),
        })
    }

    fn subgraph_service(&self, name: &str, service: subgraph::BoxService) -> subgraph::BoxService {
        if self.core_subgraphs.iter().any(|core| core == name) {
            return service;
        }
        // An app, or the plane of all apps: the router's own HTTP client (`service`) is never
        // used for them.
        let gate = self.gate.clone();
        if let (Some(plane), true) = (&self.plane, name == app_plane::PLANE_SUBGRAPH) {
            let plane = plane.clone();
            return tower::service_fn(move |request: subgraph::Request| {
                let (gate, plane) = (gate.clone(), plane.clone());
                async move {
                    let caller = request_context::caller(&request.context);
                    Ok(app_plane::serve(&gate, &plane, caller, request).await)
                }
            })
            .boxed();
        }
        let namespace: Arc<str> = Arc::from(name);
        tower::service_fn(move |request: subgraph::Request| {
            let gate = gate.clone();
            let namespace = namespace.clone();
            async move {
                let caller = request_context::caller(&request.context);
                Ok(gate.call(&namespace, caller.as_ref(), request).await)
            }
        })
        .boxed()
    }
}

register_plugin!("nexus", "installation_gate", InstallationGate);

pub struct Gate {
    context_ttl: Duration,
    /// The key store, the installation directory and the membership view, shared with
    /// `nexus.auth`.
    lookups: Arc<Lookups>,
    client: AppClient,
}

type Verdict = ControlFlow<subgraph::Response, subgraph::Request>;

impl Gate {
    /// The app `namespace`'s answer to `request`, or the gate's refusal.
    pub async fn call(
        &self,
        namespace: &str,
        caller: Option<&Caller>,
        request: subgraph::Request,
    ) -> subgraph::Response {
        match self.check(namespace, caller, request).await {
            ControlFlow::Break(refused) => refused,
            ControlFlow::Continue(request) => self.client.call(namespace, request).await,
        }
    }

    /// Lets the request through with a context token, or answers it with an error.
    pub async fn check(
        &self,
        namespace: &str,
        caller: Option<&Caller>,
        mut request: subgraph::Request,
    ) -> Verdict {
        let refuse = |request: subgraph::Request, code: &str, message: String| -> Verdict {
            ControlFlow::Break(
                subgraph::Response::builder()
                    .errors(vec![
                        graphql::Error::builder()
                            .message(message)
                            .extension_code(code)
                            .extension("app", namespace.to_owned())
                            .build(),
                    ])
                    .extensions(serde_json_bytes::Map::new())
                    .context(request.context)
                    .subgraph_name(namespace.to_owned())
                    .build(),
            )
        };
        let not_installed = "APP_NOT_INSTALLED";
        let Some(claims) = caller.map(|c| &*c.claims) else {
            return refuse(
                request,
                not_installed,
                format!("sign in to use the app `{namespace}`"),
            );
        };
        if !matches!(
            claims.typ,
            TokenType::Access | TokenType::ApiKey | TokenType::Installation | TokenType::Delegated
        ) {
            return refuse(
                request,
                "FORBIDDEN",
                format!("a {:?} token cannot call the app `{namespace}`", claims.typ),
            );
        }
        let Some(organization) = claims.org.as_deref().and_then(|o| Uuid::parse_str(o).ok()) else {
            return refuse(
                request,
                not_installed,
                format!("the app `{namespace}` needs a token acting in an organization"),
            );
        };
        let installed = match self
            .lookups
            .installations
            .for_app(organization, namespace)
            .await
        {
            Ok(Some(installed)) if installed.live => installed,
            Ok(_) => {
                return refuse(
                    request,
                    not_installed,
                    format!("the app `{namespace}` is not installed in your organization"),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, app = namespace, "installation lookup failed");
                return refuse(
                    request,
                    "SERVICE_UNAVAILABLE",
                    format!("cannot check the installation of `{namespace}` now; try again"),
                );
            }
        };
        // An app's token (its installation's, or acting for a user) may call the app itself,
        // never another app.
        if matches!(claims.typ, TokenType::Installation | TokenType::Delegated)
            && claims.inst.as_deref() != Some(installed.id.to_string().as_str())
        {
            return refuse(
                request,
                "FORBIDDEN",
                format!("another app's installation token cannot reach the app `{namespace}`"),
            );
        }
        let role = match self.role_now(caller, claims).await {
            Ok(Some(role)) => role,
            Ok(None) => {
                return refuse(
                    request,
                    "FORBIDDEN",
                    "you are no longer a member of the organization this token acts in; sign in again"
                        .to_owned(),
                );
            }
            Err(message) => return refuse(request, "SERVICE_UNAVAILABLE", message),
        };
        let context = context_claims(
            self.context_ttl,
            self.lookups.keys.issuer(),
            namespace,
            claims,
            role,
            installed.id,
            &installed.scopes,
        );
        let Ok(signed) = self.lookups.keys.sign(&context) else {
            return refuse(
                request,
                "INTERNAL_SERVER_ERROR",
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
}

impl Gate {
    /// The role to tell an app: for a user (or an app acting for one), their role in the token's
    /// organization as identity says it is now — `Ok(None)` once they are no longer a member;
    /// for API keys and installation tokens, the token's own.
    async fn role_now(
        &self,
        caller: Option<&Caller>,
        claims: &Claims,
    ) -> Result<Option<Option<String>>, String> {
        let acts_for_a_user = matches!(claims.typ, TokenType::Access | TokenType::Delegated);
        let (true, Some(memberships), Some(organization)) =
            (acts_for_a_user, &self.lookups.memberships, &claims.org)
        else {
            return Ok(Some(claims.role.clone()));
        };
        let answer = match caller.and_then(|c| c.membership.clone()) {
            Some(answer) => answer,
            None => memberships.of(&claims.sub, organization).await?,
        };
        Ok(answer.role.map(Some))
    }
}

/// The context token for a call of `caller` to the app `namespace`: the scopes are those the
/// installation granted that the caller holds too (a user holds every scope; an API key or an
/// installation token only its own), so no call gives an app more than its caller may see.
pub fn context_claims(
    ttl: Duration,
    issuer: &str,
    namespace: &str,
    caller: &Claims,
    role: Option<String>,
    installation: Uuid,
    granted: &[String],
) -> Claims {
    let mut context = new_claims(issuer, caller.sub.clone(), TokenType::Context, ttl);
    context.aud = namespace.to_owned();
    context.org = caller.org.clone();
    context.role = role;
    context.inst = Some(installation.to_string());
    context.amr = caller.amr.clone();
    // An app acting for a user hands its app the grant it acts under: a token exchanged for this
    // context token stays within that grant (and dies with it).
    if caller.typ == TokenType::Delegated {
        context.client_id = caller.client_id.clone();
        context.gid = caller.gid.clone();
    }
    context.scopes = granted
        .iter()
        .filter(|s| caller.typ == TokenType::Access || caller.scopes.contains(s))
        .cloned()
        .collect();
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(typ: TokenType, scopes: &[&str]) -> Claims {
        let mut claims = new_claims("iss", "sub".into(), typ, Duration::from_secs(60));
        claims.org = Some(Uuid::nil().to_string());
        claims.role = Some("member".into());
        claims.scopes = scopes.iter().map(|s| s.to_string()).collect();
        claims
    }

    #[test]
    fn context_scopes_are_what_both_the_installation_and_the_caller_allow() {
        let granted = vec!["users:read".to_owned(), "organizations:read".to_owned()];
        let user = context_claims(
            CONTEXT_TOKEN_TTL,
            "iss",
            "crm",
            &caller(TokenType::Access, &[]),
            Some("member".into()),
            Uuid::nil(),
            &granted,
        );
        assert_eq!(user.scopes, granted);
        assert_eq!(user.role.as_deref(), Some("member"));
        assert_eq!(user.aud, "crm");
        assert_eq!(user.typ, TokenType::Context);
        let key = context_claims(
            CONTEXT_TOKEN_TTL,
            "iss",
            "crm",
            &caller(TokenType::ApiKey, &[]),
            None,
            Uuid::nil(),
            &granted,
        );
        assert_eq!(key.scopes, Vec::<String>::new());
        let key = context_claims(
            CONTEXT_TOKEN_TTL,
            "iss",
            "crm",
            &caller(TokenType::ApiKey, &["organizations:read", "licenses:read"]),
            None,
            Uuid::nil(),
            &granted,
        );
        assert_eq!(key.scopes, ["organizations:read"]);
    }
}
