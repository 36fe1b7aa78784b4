//! Apps: a fake app subgraph on loopback that records every call, manifests, and publishing,
//! installing and installation tokens through the real API.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::{Session, TestStack};

impl TestStack {
    /// Submits `manifest` as `developer` and approves it as `admin` (both must succeed); returns
    /// the app's id and the approved version's id.
    pub async fn publish_app(
        &self,
        developer: &Session,
        admin: &Session,
        manifest: &Value,
    ) -> (String, String) {
        let (app_id, version_id) = self.submit_app(developer, manifest).await;
        self.approve_version(admin, &version_id).await;
        (app_id, version_id)
    }

    /// Submits `manifest` as `developer`: (app id, version id), in review.
    pub async fn submit_app(&self, developer: &Session, manifest: &Value) -> (String, String) {
        let data = self
            .data_as(
                &developer.access,
                "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id status app { id } } errors { code message } } }",
                json!({ "m": manifest }),
            )
            .await;
        let version = &data["submitAppVersion"]["appVersion"];
        assert_eq!(version["status"], "IN_REVIEW", "{data}");
        let version_id = version["id"].as_str().unwrap_or_default().to_owned();
        let app_id = version["app"]["id"].as_str().unwrap_or_default().to_owned();
        (app_id, version_id)
    }

    /// Approves a version in review as the platform admin `admin`.
    pub async fn approve_version(&self, admin: &Session, version_id: &str) {
        let data = self
            .data_as(
                &admin.access,
                "mutation($id: ID!) { approveAppVersion(id: $id) { appVersion { status } } }",
                json!({ "id": version_id }),
            )
            .await;
        assert_eq!(
            data["approveAppVersion"]["appVersion"]["status"], "APPROVED",
            "{data}"
        );
    }

    /// The analytics app (`analytics_sdl`, free, requiring `users:read`) served by a new FakeApp,
    /// submitted by `developer` and approved by `admin`; returns the app and its id.
    pub async fn publish_analytics(
        &self,
        developer: &Session,
        admin: &Session,
    ) -> (FakeApp, String) {
        let app = FakeApp::analytics().await;
        let (app_id, _) = self
            .publish_app(
                developer,
                admin,
                &manifest("analytics", &app.url(), &["users:read"]),
            )
            .await;
        (app, app_id)
    }

    /// Installs `app_id` into the organization `admin` acts in; returns the installation's id.
    pub async fn install(&self, admin: &Session, app_id: &str) -> String {
        let data = self
            .data_as(
                &admin.access,
                "mutation($app: ID!) { installApp(appId: $app) { id } }",
                json!({ "app": app_id }),
            )
            .await;
        data["installApp"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The example analytics app (examples/apps/analytics) on a free port, verifying context
    /// tokens against this stack's JWKS; returns its address.
    pub async fn start_example_analytics(&self) -> SocketAddr {
        self.start_example_app(None).await
    }

    /// The example app with "Sign in with Nexus" as the client `(id, secret)`, its redirect URI
    /// `http://{its address}/callback`; returns its address.
    pub async fn start_example_app(&self, client: Option<(&str, &str)>) -> SocketAddr {
        let base = self
            .stack
            .graphql_url()
            .trim_end_matches("/graphql")
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = nexus_example_analytics::router(nexus_example_analytics::Config {
            jwks_url: format!("{base}/.well-known/jwks.json"),
            issuer: self.stack.keys.issuer().to_owned(),
            sign_in: client.map(
                |(id, secret)| nexus_example_analytics::sign_in::SignInConfig {
                    client_id: id.to_owned(),
                    client_secret: secret.to_owned(),
                    redirect_uri: format!("http://{addr}/callback"),
                },
            ),
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// An installation token of `app_id` for `installation` (a fresh client secret from the app's
    /// developer, exchanged at `/oauth/token`).
    pub async fn installation_token(
        &self,
        developer: &Session,
        app_id: &str,
        installation: &str,
    ) -> String {
        let (_, body) = self
            .request_installation_token(developer, app_id, installation)
            .await;
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no installation token: {body}"))
            .to_owned()
    }

    /// A new client secret of `app_id`, rotated by its `developer`.
    pub async fn rotate_client_secret(&self, developer: &Session, app_id: &str) -> String {
        let data = self
            .data_as(
                &developer.access,
                "mutation($app: ID!) { rotateAppClientSecret(appId: $app) }",
                json!({ "app": app_id }),
            )
            .await;
        data["rotateAppClientSecret"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Rotates `app_id`'s client secret as `developer` and asks `/oauth/token` for a token of
    /// `installation` with it; returns (HTTP status, JSON body), whatever the answer.
    pub async fn request_installation_token(
        &self,
        developer: &Session,
        app_id: &str,
        installation: &str,
    ) -> (u16, Value) {
        let secret = self.rotate_client_secret(developer, app_id).await;
        let response = self
            .client
            .post(self.stack.graphql_url().replace("/graphql", "/oauth/token"))
            .json(
                &json!({ "grant_type": "client_credentials", "client_id": app_id,
                           "client_secret": secret, "installation_id": installation }),
            )
            .send()
            .await
            .expect("the token endpoint answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }
}

/// One request an app subgraph received.
#[derive(Clone, Debug)]
pub struct AppCall {
    pub query: String,
    pub authorization: Option<String>,
}

/// A minimal app subgraph in plain HTTP + JSON: it answers `_service` with `sdl`, resolves every
/// entity with `analyticsProfile { visits: 42 }`, and records each call.
pub struct FakeApp {
    pub addr: SocketAddr,
    pub calls: std::sync::Arc<std::sync::Mutex<Vec<AppCall>>>,
    /// Milliseconds the app waits before answering for entities (a slow app).
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// A free app's manifest: `namespace` served at `url`, requiring `required` scopes.
pub fn manifest(namespace: &str, url: &str, required: &[&str]) -> Value {
    json!({
        "namespace": namespace,
        "name": capitalize(namespace),
        "version": "1.0.0",
        "description": format!("The {namespace} app"),
        "category": "insights",
        "author": { "name": "Dev", "email": "dev@apps.test" },
        "pricing": { "model": "free" },
        "graphql": { "subgraph_url": url },
        "scopes": { "required": required }
    })
}

/// The SDL of an app `analytics` adding `User.analyticsProfile { visits }`.
pub fn analytics_sdl() -> String {
    format!(
        "{}\ntype User @key(fields: \"id\") {{ id: ID! analyticsProfile: AnalyticsProfile }}\n\
         type AnalyticsProfile {{ visits: Int! }}",
        r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])"#
    )
}

impl FakeApp {
    /// The analytics app of `analytics_sdl`.
    pub async fn analytics() -> FakeApp {
        FakeApp::start(analytics_sdl()).await
    }

    pub async fn start(sdl: String) -> FakeApp {
        FakeApp::start_answering(sdl, "analyticsProfile").await
    }

    /// An app `namespace` adding `User.{namespace}Profile { visits }` (42 for everyone).
    pub async fn extending_user(namespace: &str) -> FakeApp {
        let type_name = format!("{}Profile", capitalize(namespace));
        let sdl = format!(
            "{}\ntype User @key(fields: \"id\") {{ id: ID! {namespace}Profile: {type_name} }}\n\
             type {type_name} {{ visits: Int! }}",
            r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])"#
        );
        FakeApp::start_answering(sdl, &format!("{namespace}Profile")).await
    }

    /// Serves `sdl` and answers every entity with `{ field: { visits: 42 } }`.
    async fn start_answering(sdl: String, field: &str) -> FakeApp {
        let field = field.to_owned();
        let calls: std::sync::Arc<std::sync::Mutex<Vec<AppCall>>> = Default::default();
        let recorded = calls.clone();
        let delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64> = Default::default();
        let delay = delay_ms.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().route(
            "/graphql",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, axum::Json(request): axum::Json<Value>| {
                    let sdl = sdl.clone();
                    let recorded = recorded.clone();
                    let delay = delay.clone();
                    let field = field.clone();
                    async move {
                        let query = request["query"].as_str().unwrap_or_default().to_owned();
                        if let Ok(mut calls) = recorded.lock() {
                            calls.push(AppCall {
                                query: query.clone(),
                                authorization: headers
                                    .get("authorization")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                            });
                        }
                        if query.contains("_service") {
                            return axum::Json(json!({ "data": { "_service": { "sdl": sdl } } }));
                        }
                        let wait = delay.load(std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                        let entities: Vec<Value> = request["variables"]["representations"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .map(|r| {
                                let mut entity = serde_json::Map::new();
                                entity.insert("__typename".into(), r["__typename"].clone());
                                entity.insert(field.clone(), json!({ "visits": 42 }));
                                Value::Object(entity)
                            })
                            .collect();
                        axum::Json(json!({ "data": { "_entities": entities } }))
                    }
                },
            ),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                // Only `stop` ends it: a dropped FakeApp keeps serving, as tests that keep just
                // its address expect.
                .with_graceful_shutdown(async move {
                    if stopped.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                })
                .await
        });
        FakeApp {
            addr,
            calls,
            delay_ms,
            stop: Some(stop),
            server,
        }
    }

    /// From now on the app answers entity requests only after `delay`.
    pub fn slow_down(&self, delay: std::time::Duration) {
        self.delay_ms.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Takes the app down: its port refuses connections from now on (idle kept-alive
    /// connections are closed too).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
    }

    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// Calls made for users (`_entities`), not the registry's SDL fetches and health checks.
    pub fn entity_calls(&self) -> Vec<AppCall> {
        self.calls
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|c| c.query.contains("_entities"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}
