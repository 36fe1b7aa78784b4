//! `nexus.auth` and `nexus.installation_gate` in apollo-router's own test harness, over a
//! supergraph composed with an app in it. The apps service's installation lookup and the app are
//! small HTTP servers on loopback, so the gate's real lookups and calls are exercised.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apollo_router::services::{router, supergraph};
use nexus_protocol::internal::installation::{InstallationView, LookupAnswer, PATH as LOOKUP_PATH};
use nexus_protocol::token::{CORE_AUDIENCE, Claims, KeyStore, TokenType, new_claims};
use nexus_registry::{SubgraphSdl, compose};

use crate::test_harness::{self, core_subgraphs, serve};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const ORG: Uuid = Uuid::from_u128(1);
const APP: Uuid = Uuid::from_u128(2);
const INSTALLATION: Uuid = Uuid::from_u128(3);
const OTHER_APP: Uuid = Uuid::from_u128(4);

const APP_SDL: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type Query { analyticsTop: Int }"#;

/// The apps service's installation lookup (analytics is installed in `ORG`; any installation
/// asked for by id belongs to `OTHER_APP`) and the analytics app, which answers 42 and records
/// the authorization it was called with.
struct World {
    keys: Arc<KeyStore>,
    _dir: tempfile::TempDir,
    service: router::BoxCloneService,
    app_calls: Arc<Mutex<Vec<String>>>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys_file = dir.path().join("keys.json");
    let keys = KeyStore::open_or_create(&keys_file, "http://nexus.test").expect("keys");
    let lookup = axum::Router::new().route(
        LOOKUP_PATH,
        axum::routing::get(
            |axum::extract::Query(query): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| async move {
                let by_id = query.get("id").and_then(|id| Uuid::parse_str(id).ok());
                axum::Json(LookupAnswer {
                    installation: Some(InstallationView {
                        id: by_id.unwrap_or(INSTALLATION),
                        app_id: if by_id.is_some() { OTHER_APP } else { APP },
                        namespace: "analytics".into(),
                        organization_id: ORG,
                        live: true,
                        scopes: vec!["organizations:read".into(), "users:read".into()],
                    }),
                })
            },
        ),
    );
    let apps = serve(lookup).await;
    let app_calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = app_calls.clone();
    let app = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let recorded = recorded.clone();
            async move {
                let authorization = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                recorded.lock().expect("lock").push(authorization);
                axum::Json(json!({ "data": { "analyticsTop": 42 } }))
            }
        }),
    );
    let app = serve(app).await;
    let mut subgraphs = core_subgraphs(None);
    subgraphs.push(SubgraphSdl {
        name: "analytics".into(),
        routing_url: format!("http://{app}/graphql"),
        sdl: APP_SDL.into(),
    });
    let supergraph = compose(&subgraphs).expect("composes");
    let service = test_harness::router(supergraph, &keys_file, apps).await;
    World {
        keys,
        _dir: dir,
        service,
        app_calls,
    }
}

impl World {
    fn token(&self, typ: TokenType, configure: impl FnOnce(&mut Claims)) -> String {
        let mut claims = new_claims(
            self.keys.issuer(),
            Uuid::from_u128(9).to_string(),
            typ,
            Duration::from_secs(60),
        );
        claims.org = Some(ORG.to_string());
        configure(&mut claims);
        self.keys.sign(&claims).expect("signs")
    }

    /// `query` with `authorization` (if any); returns (HTTP status, JSON body).
    async fn call(&self, query: &str, authorization: Option<&str>) -> (u16, Value) {
        let mut request = supergraph::Request::fake_builder().query(query);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let request =
            router::Request::try_from(request.build().expect("request")).expect("router request");
        let mut response = self
            .service
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let status = response.response.status().as_u16();
        let body = response
            .next_response()
            .await
            .and_then(Result::ok)
            .unwrap_or_default();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn app_calls(&self) -> Vec<String> {
        self.app_calls.lock().expect("lock").clone()
    }
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_bad_token_is_refused_before_planning() {
    let world = world().await;
    let (status, body) = world
        .call("{ analyticsTop }", Some("Bearer not-a-token"))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(codes(&body), ["UNAUTHENTICATED"], "{body}");
    let (status, body) = world.call("{ analyticsTop }", Some("Basic eA==")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(world.app_calls().len(), 0);
}

#[tokio::test]
async fn an_anonymous_caller_never_reaches_an_app() {
    let world = world().await;
    let (status, body) = world.call("{ analyticsTop }", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["analyticsTop"], Value::Null, "{body}");
    assert_eq!(codes(&body), ["APP_NOT_INSTALLED"], "{body}");
    assert_eq!(world.app_calls().len(), 0);
}

#[tokio::test]
async fn a_member_reaches_the_app_with_a_context_token_not_their_own() {
    let world = world().await;
    let token = world.token(TokenType::Access, |c| c.role = Some("member".into()));
    let (_, body) = world
        .call("{ analyticsTop }", Some(&format!("Bearer {token}")))
        .await;
    assert_eq!(body["data"]["analyticsTop"], 42, "{body}");
    let calls = world.app_calls();
    assert_eq!(calls.len(), 1);
    let context = calls[0].strip_prefix("Bearer ").unwrap_or_default();
    assert_ne!(context, token);
    let claims = world
        .keys
        .verify(context, "analytics")
        .expect("a context token");
    assert_eq!(claims.typ, TokenType::Context);
    assert_eq!(claims.role.as_deref(), Some("member"));
    assert_eq!(claims.inst, Some(INSTALLATION.to_string()));
    assert_eq!(claims.scopes, ["organizations:read", "users:read"]);
    // The configured lifetime (the default here: 5 minutes).
    assert_eq!(claims.exp - claims.iat, 300);
    // Only the app's audience: it is no key to the core.
    assert!(world.keys.verify(context, CORE_AUDIENCE).is_err());
}

#[tokio::test]
async fn another_apps_installation_token_is_forbidden_and_a_service_token_too() {
    let world = world().await;
    let other = world.token(TokenType::Installation, |c| {
        c.sub = OTHER_APP.to_string();
        c.inst = Some(Uuid::from_u128(5).to_string());
        c.scopes = vec!["users:read".into()];
    });
    let (_, body) = world
        .call("{ analyticsTop }", Some(&format!("Bearer {other}")))
        .await;
    assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
    let service = world.keys.service_token("identity").expect("service token");
    let (_, body) = world
        .call("{ analyticsTop }", Some(&format!("Bearer {service}")))
        .await;
    assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(world.app_calls().len(), 0);
}

#[tokio::test]
async fn a_remembered_token_still_expires() {
    let world = world().await;
    let mut claims = new_claims(
        world.keys.issuer(),
        Uuid::from_u128(9).to_string(),
        TokenType::Access,
        Duration::from_secs(1),
    );
    claims.org = Some(ORG.to_string());
    let token = world.keys.sign(&claims).expect("signs");
    let bearer = format!("Bearer {token}");
    let (status, body) = world.call("{ analyticsTop }", Some(&bearer)).await;
    assert_eq!(status, 200, "{body}");
    // Past its expiry and the leeway, the remembered verification does not keep it alive.
    tokio::time::sleep(Duration::from_secs(
        1 + nexus_protocol::token::LEEWAY_SECONDS + 1,
    ))
    .await;
    let (status, body) = world.call("{ analyticsTop }", Some(&bearer)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(codes(&body), ["UNAUTHENTICATED"], "{body}");
    assert!(body.to_string().contains("expired"), "{body}");
}
