//! The development platform as `nexus app dev` and `nexus app webhook` use it: through its
//! GraphQL API only (the same calls whether it runs in this process or is a `nexus dev` elsewhere
//! on this machine), as the development identity — a developer, owner of an organization of
//! theirs. Nothing is changed on a platform that does not say it is a development one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The development identity, kept under `.nexus/` from the first run on.
#[derive(Serialize, Deserialize)]
pub struct Identity {
    pub email: String,
    pub password: String,
    pub organization: String,
}

/// What a running `nexus app dev` tells the other `nexus app` commands (`.nexus/session.json`).
#[derive(Serialize, Deserialize)]
pub struct Session {
    pub graph: String,
    /// The identity's file under `.nexus/`.
    pub identity: String,
    pub app_id: String,
    pub installation_id: String,
}

impl Session {
    pub fn path(state: &Path) -> PathBuf {
        state.join("session.json")
    }

    pub fn read(state: &Path) -> anyhow::Result<Session> {
        let text = std::fs::read_to_string(Session::path(state)).map_err(|_| {
            anyhow!("no app is being served from here: run `nexus app dev` in this directory first")
        })?;
        serde_json::from_str(&text).context(".nexus/session.json")
    }
}

/// Access tokens live 15 minutes: sign in again well before.
const TOKEN_REUSE: Duration = Duration::from_secs(5 * 60);

/// A development platform's graph, as the development identity.
pub struct Platform {
    http: reqwest::Client,
    pub graph: String,
    pub identity: Identity,
    pub identity_file: String,
    pub organization_id: String,
    token: tokio::sync::Mutex<(String, Instant)>,
}

impl Platform {
    /// Signs the development identity in at `graph` (creating it, and its organization, on the
    /// first run with that platform), after checking the platform is a development one.
    pub async fn connect(
        graph: &str,
        state: &Path,
        identity_file: &str,
        namespace: &str,
    ) -> anyhow::Result<Platform> {
        let http = reqwest::Client::new();
        let development = call(&http, graph, None, "{ developmentPlatform }", json!({}))
            .await
            .with_context(|| format!("no Nexus answers at {graph}"))?;
        if development["developmentPlatform"] != true {
            bail!(
                "{graph} is not a development platform (`nexus dev`): `nexus app dev` changes nothing there"
            );
        }
        let file = state.join(identity_file);
        let identity = match std::fs::read_to_string(&file) {
            Ok(text) => {
                serde_json::from_str(&text).with_context(|| format!("{}", file.display()))?
            }
            Err(_) => {
                let identity = Identity {
                    email: format!("dev@{namespace}.localhost"),
                    password: uuid::Uuid::new_v4().simple().to_string(),
                    organization: format!("{namespace}-dev"),
                };
                call(
                    &http,
                    graph,
                    None,
                    "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }",
                    json!({ "input": { "email": identity.email, "password": identity.password, "name": "App developer" } }),
                )
                .await
                .with_context(|| {
                    format!(
                        "creating the development user {} (if it exists from an earlier run, its password was in {})",
                        identity.email,
                        file.display()
                    )
                })?;
                nexus_protocol::token::write_private_file(
                    &file,
                    &serde_json::to_string_pretty(&identity)?,
                )?;
                identity
            }
        };
        let mut platform = Platform {
            http,
            graph: graph.to_owned(),
            identity,
            identity_file: identity_file.to_owned(),
            organization_id: String::new(),
            token: tokio::sync::Mutex::new((String::new(), Instant::now())),
        };
        let token = platform.sign_in(None).await?;
        let found = platform
            .data_as(
                &token,
                "query($slug: String) { organization(slug: $slug) { id } }",
                json!({ "slug": platform.identity.organization }),
            )
            .await?;
        platform.organization_id = match found["organization"]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => platform
                .data_as(
                    &token,
                    "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }",
                    json!({ "input": { "name": format!("{namespace} (development)"), "slug": platform.identity.organization } }),
                )
                .await?["createOrganization"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        let token = platform.sign_in(Some(&platform.organization_id)).await?;
        *platform.token.lock().await = (token, Instant::now());
        Ok(platform)
    }

    /// A fresh access token, acting in the development organization when `organization`.
    async fn sign_in(&self, organization: Option<&str>) -> anyhow::Result<String> {
        let log_in = call(
            &self.http,
            &self.graph,
            None,
            "mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }",
            json!({ "input": { "email": self.identity.email, "password": self.identity.password } }),
        )
        .await
        .context("signing the development user in")?;
        let token = log_in["logIn"]["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some(organization) = organization else {
            return Ok(token);
        };
        let switched = self
            .data_as(
                &token,
                "mutation($id: ID!) { switchOrganization(id: $id) { accessToken } }",
                json!({ "id": organization }),
            )
            .await?;
        Ok(switched["switchOrganization"]["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The identity's access token in its organization (signed in again when it gets old).
    pub async fn token(&self) -> anyhow::Result<String> {
        let mut held = self.token.lock().await;
        if held.1.elapsed() > TOKEN_REUSE {
            *held = (
                self.sign_in(Some(&self.organization_id)).await?,
                Instant::now(),
            );
        }
        Ok(held.0.clone())
    }

    /// `query` as the development identity: its data, or its first error.
    pub async fn data(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let token = self.token().await?;
        self.data_as(&token, query, variables).await
    }

    async fn data_as(&self, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        call(&self.http, &self.graph, Some(token), query, variables).await
    }

    /// Submits the app as it is now (a development version of the manifest's, with the URL its
    /// server really has) and approves it under review's checks. `Ok(Err(problems))` when
    /// refused.
    pub async fn publish(
        &self,
        manifest: &Value,
        version: &str,
    ) -> anyhow::Result<Result<String, Vec<Value>>> {
        let mut manifest = manifest.clone();
        manifest["version"] = json!(version);
        let submitted = self
            .data(
                "mutation($m: JSON!) { submitAppVersion(manifest: $m) { appVersion { id status app { id } } errors { code message path type field } } }",
                json!({ "m": manifest }),
            )
            .await?;
        let result = &submitted["submitAppVersion"];
        let problems = result["errors"].as_array().cloned().unwrap_or_default();
        if result["appVersion"]["status"] != "IN_REVIEW" || !problems.is_empty() {
            return Ok(Err(problems));
        }
        let version_id = result["appVersion"]["id"].as_str().unwrap_or_default();
        self.data(
            "mutation($id: ID!) { approveOwnAppVersion(id: $id) { appVersion { status } } }",
            json!({ "id": version_id }),
        )
        .await
        .context("approving the development version")?;
        Ok(Ok(result["appVersion"]["app"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()))
    }

    /// Installs the app in the development organization with every scope its manifest names
    /// (unless it is installed already); returns the installation's id.
    pub async fn install(&self, app_id: &str, manifest: &Value) -> anyhow::Result<String> {
        let scopes: Vec<&Value> = ["required", "optional"]
            .iter()
            .filter_map(|kind| manifest["scopes"][kind].as_array())
            .flatten()
            .collect();
        let installed = self
            .data(
                "mutation($app: ID!, $scopes: [String!]) { installApp(appId: $app, scopes: $scopes) { id } }",
                json!({ "app": app_id, "scopes": scopes }),
            )
            .await;
        match installed {
            Ok(data) => Ok(data["installApp"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()),
            Err(e) if e.to_string().contains("CONFLICT") => {
                let found = self
                    .data(
                        "query($id: ID!) { organization(id: $id) { installations(first: 100) { nodes { id app { id } } } } }",
                        json!({ "id": self.organization_id }),
                    )
                    .await?;
                found["organization"]["installations"]["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|i| i["app"]["id"] == app_id)
                    .and_then(|i| i["id"].as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        anyhow!("the app is installed, but its installation is not found")
                    })
            }
            Err(e) => Err(e.context("installing the app in the development organization")),
        }
    }
}

async fn call(
    http: &reqwest::Client,
    graph: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut request = http
        .post(graph)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer: Value = request.send().await?.json().await?;
    if let Some(error) = answer["errors"].as_array().and_then(|e| e.first()) {
        bail!(
            "{} ({})",
            error["message"].as_str().unwrap_or("error"),
            error["extensions"]["code"].as_str().unwrap_or("")
        );
    }
    Ok(answer["data"].clone())
}
