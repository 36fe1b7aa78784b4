//! The whole stack on random ports, and a GraphQL client for it.

use std::net::SocketAddr;

use nexus::config::{Config, MailConfig, RouterConfig};
use nexus::stack::{Stack, StackOptions};
use serde_json::{Value, json};

use super::TestDb;

pub struct TestStack {
    pub stack: Stack,
    pub client: reqwest::Client,
    // Dropped last: the database outlives the stack using it.
    pub db: TestDb,
    pub dir: tempfile::TempDir,
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
        Self::start_with(health, license_sync, None, |_, _| {}).await
    }

    /// A stack whose configuration `configure` changes first (given the stack's own directory).
    pub async fn start_configured(
        configure: impl FnOnce(&mut Config, &std::path::Path),
    ) -> TestStack {
        let hour = std::time::Duration::from_secs(3600);
        Self::start_with(hour, hour, None, configure).await
    }

    /// A stack whose router configuration has `yaml` merged over `router.yaml`, through
    /// `router.config_file` as an operator would.
    pub async fn start_with_router_yaml(yaml: &str) -> TestStack {
        let hour = std::time::Duration::from_secs(3600);
        Self::start_with(hour, hour, None, |config, dir| {
            use_router_yaml(config, dir, yaml)
        })
        .await
    }

    /// A stack whose registry accepts apps on loopback but whose router refuses to call
    /// non-public addresses: an app's name that resolved publicly at review and now resolves to
    /// loopback (DNS rebinding).
    pub async fn start_with_strict_router() -> TestStack {
        let hour = std::time::Duration::from_secs(3600);
        Self::start_with(hour, hour, Some(false), |_, _| {}).await
    }

    async fn start_with(
        health: std::time::Duration,
        license_sync: std::time::Duration,
        router_allows_private_apps: Option<bool>,
        configure: impl FnOnce(&mut Config, &std::path::Path),
    ) -> TestStack {
        let db = TestDb::create().await;
        let dir = tempfile::tempdir().expect("temp dir");
        // The same composition root as `nexus dev`: a configuration, then the test's overrides.
        let mut config = Config {
            database_url: Some(db.url().to_owned()),
            keys_file: Some(dir.path().join("signing-keys.json")),
            allow_private_apps: true,
            router: RouterConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..RouterConfig::default()
            },
            mail: MailConfig {
                folder: Some(dir.path().join("mail")),
                ..MailConfig::default()
            },
            ..Config::default()
        };
        configure(&mut config, dir.path());
        let options = StackOptions {
            config,
            router_allows_private_apps,
            health_interval: Some(health),
            license_sync_interval: Some(license_sync),
            license_expiry_interval: Some(std::time::Duration::from_millis(200)),
        };
        let stack = Stack::start(options).await.expect("stack starts");
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

    /// Sends every (token, query, variables) at once through the router; returns each one's
    /// (HTTP status, body), in order.
    pub async fn all_at_once(&self, attempts: Vec<(String, String, Value)>) -> Vec<(u16, Value)> {
        let tasks: Vec<_> = attempts
            .into_iter()
            .map(|(token, query, variables)| {
                let (client, url) = (self.client.clone(), self.stack.graphql_url());
                tokio::spawn(async move {
                    post_graphql(&client, &url, Some(&token), &query, variables).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
        answers
    }

    pub async fn stop(self) {
        self.stack.shutdown().await.expect("clean shutdown");
    }
}

/// Writes `yaml` into `dir` and points `router.config_file` at it, as an operator would.
pub fn use_router_yaml(config: &mut Config, dir: &std::path::Path, yaml: &str) {
    let path = dir.join("router.yaml");
    std::fs::write(&path, yaml).expect("write router.yaml");
    config.router.config_file = Some(path);
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
    // A body that is not JSON comes back as a string, so the assertion that fails shows it.
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
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
