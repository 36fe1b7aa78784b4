//! Test support: a throwaway database (SQLite file, or a fresh PostgreSQL database when
//! `NEXUS_TEST_POSTGRES` is set), the whole stack on random ports, and a GraphQL client.
#![allow(dead_code)]

use std::net::SocketAddr;

use nexus::stack::{Stack, StackOptions};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

/// `NEXUS_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432` runs the tests on PostgreSQL.
pub const POSTGRES_ENV: &str = "NEXUS_TEST_POSTGRES";

pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        server: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub async fn create() -> TestDb {
        match std::env::var(POSTGRES_ENV) {
            Ok(server) if !server.is_empty() => {
                let server = server.trim_end_matches('/').to_owned();
                let name = format!("nexus_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(format!("{server}/postgres"))
                    .await
                    .expect("connect to PostgreSQL (is it running?)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = format!("{server}/{name}");
                TestDb::Postgres { server, name, url }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("nexus.db").display());
                TestDb::Sqlite { _dir: dir, url }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { server, name, .. } = self {
            let (server, name) = (server.clone(), name.clone());
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(format!("{server}/postgres")).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestStack {
    pub stack: Stack,
    pub client: reqwest::Client,
    // Dropped last: the database outlives the stack using it.
    pub db: TestDb,
    pub dir: tempfile::TempDir,
}

/// A signed-in user: an access token (acting in `organization`, if any) and a refresh token.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub organization: Option<String>,
}

pub const PASSWORD: &str = "correct horse 42";

const AUTH_FIELDS: &str = "accessToken refreshToken expiresAt user { id } organization { id }";

impl Session {
    fn from_payload(payload: &Value) -> Session {
        Session {
            access: payload["accessToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refresh: payload["refreshToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            user_id: payload["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            organization: payload["organization"]["id"].as_str().map(str::to_owned),
        }
    }
}

impl TestStack {
    pub async fn start() -> TestStack {
        // Health checks run SQL; by default only the one at start, so statement counts stay exact.
        Self::start_with_health_checks(std::time::Duration::from_secs(3600)).await
    }

    /// A stack whose registry health-checks the live apps every `interval`.
    pub async fn start_with_health_checks(interval: std::time::Duration) -> TestStack {
        Self::start_with_intervals(interval, std::time::Duration::from_secs(3600)).await
    }

    /// A stack whose installations of paid apps follow their licenses every `interval`.
    pub async fn start_with_license_sync(interval: std::time::Duration) -> TestStack {
        Self::start_with_intervals(std::time::Duration::from_secs(3600), interval).await
    }

    async fn start_with_intervals(
        health: std::time::Duration,
        license_sync: std::time::Duration,
    ) -> TestStack {
        Self::start_with(health, license_sync, None).await
    }

    /// A stack whose registry accepts apps on loopback but whose router refuses to call
    /// non-public addresses: an app's name that resolved publicly at review and now resolves to
    /// loopback (DNS rebinding).
    pub async fn start_with_strict_router() -> TestStack {
        let hour = std::time::Duration::from_secs(3600);
        Self::start_with(hour, hour, Some(false)).await
    }

    async fn start_with(
        health: std::time::Duration,
        license_sync: std::time::Duration,
        router_allows_private_apps: Option<bool>,
    ) -> TestStack {
        let db = TestDb::create().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let stack = Stack::start(StackOptions {
            database_url: db.url().to_owned(),
            router_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys_file: dir.path().join("signing-keys.json"),
            issuer: None,
            allow_private_subgraphs: true,
            router_allows_private_apps,
            health_interval: health,
            license_sync_interval: license_sync,
        })
        .await
        .expect("stack starts");
        TestStack {
            stack,
            // Ordinary keep-alive pooling: reloads must not break pooled clients.
            client: reqwest::Client::new(),
            db,
            dir,
        }
    }

    /// POSTs to the router, anonymously; returns (HTTP status, JSON body).
    pub async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        post_graphql(
            &self.client,
            &self.stack.graphql_url(),
            None,
            query,
            variables,
        )
        .await
    }

    /// POSTs to the router with a bearer token.
    pub async fn post_as(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        post_graphql(
            &self.client,
            &self.stack.graphql_url(),
            Some(token),
            query,
            variables,
        )
        .await
    }

    /// An anonymous query that must answer HTTP 200; returns the JSON body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "HTTP {status}: {body}");
        body
    }

    /// A query as `token` that must answer HTTP 200; returns the JSON body.
    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post_as(token, query, variables).await;
        assert_eq!(status, 200, "HTTP {status}: {body}");
        body
    }

    /// An anonymous query that must succeed without errors; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A query as `token` that must succeed without errors; returns `data`.
    pub async fn data_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql_as(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    pub async fn sign_up(&self, email: &str, name: &str) -> Session {
        let data = self
            .data(
                &format!(
                    "mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {AUTH_FIELDS} }} }}"
                ),
                json!({ "input": { "email": email, "password": PASSWORD, "name": name } }),
            )
            .await;
        Session::from_payload(&data["signUp"])
    }

    pub async fn log_in(&self, email: &str) -> Session {
        let data = self
            .data(
                &format!(
                    "mutation($input: LogInInput!) {{ logIn(input: $input) {{ {AUTH_FIELDS} }} }}"
                ),
                json!({ "input": { "email": email, "password": PASSWORD } }),
            )
            .await;
        Session::from_payload(&data["logIn"])
    }

    /// A session of `session`'s user acting in `organization`.
    pub async fn switch(&self, session: &Session, organization: &str) -> Session {
        let data = self
            .data_as(
                &session.access,
                &format!(
                    "mutation($id: ID!) {{ switchOrganization(id: $id) {{ {AUTH_FIELDS} }} }}"
                ),
                json!({ "id": organization }),
            )
            .await;
        Session::from_payload(&data["switchOrganization"])
    }

    /// Creates an organization owned by `owner`; returns its id.
    pub async fn create_organization(&self, owner: &Session, name: &str, slug: &str) -> String {
        let data = self
            .data_as(
                &owner.access,
                "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }",
                json!({ "input": { "name": name, "slug": slug } }),
            )
            .await;
        data["createOrganization"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A new user who owns a new organization, signed in acting in it; returns the session and
    /// the organization's id.
    pub async fn owner_of(&self, email: &str, name: &str, slug: &str) -> (Session, String) {
        let user = self
            .sign_up(email, email.split('@').next().unwrap_or(email))
            .await;
        let organization = self.create_organization(&user, name, slug).await;
        (self.switch(&user, &organization).await, organization)
    }

    /// A signed-up user made platform admin (as `nexus admin grant` does), logged in again.
    pub async fn platform_admin(&self, email: &str) -> Session {
        self.sign_up(email, "Platform Admin").await;
        nexus_identity::service::set_platform_admin(&self.stack.db, email, true)
            .await
            .expect("grant admin");
        self.log_in(email).await
    }

    /// Submits `manifest` as `developer` and approves it as `admin` (both must succeed); returns
    /// the app's id and the approved version's id.
    pub async fn publish_app(
        &self,
        developer: &Session,
        admin: &Session,
        manifest: &Value,
    ) -> (String, String) {
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
        (app_id, version_id)
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
        let data = self
            .data_as(
                &developer.access,
                "mutation($app: ID!) { rotateAppClientSecret(appId: $app) }",
                json!({ "app": app_id }),
            )
            .await;
        let secret = data["rotateAppClientSecret"].as_str().unwrap_or_default();
        let body: Value = self
            .client
            .post(self.stack.graphql_url().replace("/graphql", "/oauth/token"))
            .json(
                &json!({ "grant_type": "client_credentials", "client_id": app_id,
                           "client_secret": secret, "installation_id": installation }),
            )
            .send()
            .await
            .expect("the token endpoint answers")
            .json()
            .await
            .expect("JSON");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no installation token: {body}"))
            .to_owned()
    }

    /// Polls `query` as `token` until `done` holds, for at most `within` (hot reloads and
    /// installation changes take a moment); returns the last body.
    pub async fn eventually(
        &self,
        token: &str,
        query: &str,
        within: std::time::Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let (_, body) = self.post_as(token, query, json!({})).await;
            if done(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not within {within:?}: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn stop(self) {
        self.stack.shutdown().await.expect("clean shutdown");
    }
}

pub async fn post_graphql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let mut request = client
        .post(url)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.expect("JSON body");
    (status, body)
}

/// The `extensions.code` of every error in a response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn first_error_message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
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
