//! An app's `manifest.json`: the model, its JSON Schema (committed at
//! `schema/manifest.schema.json`) and validation that reports every problem with its JSON path.

pub mod listing;

use std::collections::BTreeSet;

use schemars::JsonSchema;
#[cfg(feature = "entity")]
use sea_orm::entity::prelude::{DeriveActiveEnum, EnumIter, StringLen};
use serde::{Deserialize, Serialize};

/// Names the platform keeps: the core subgraphs', the core types' (an app's types and fields are
/// prefixed with its namespace, so these would collide with core types), the specs' and the
/// platform's own words.
pub const RESERVED_NAMESPACES: &[&str] = &[
    "activation",
    "admin",
    "apollo",
    "app",
    "apps",
    "auth",
    "connect",
    "core",
    "federation",
    "graphql",
    "identity",
    "installation",
    "internal",
    "join",
    "license",
    "licensing",
    "link",
    "membership",
    "mutation",
    "nexus",
    "oauth",
    "organization",
    "platform",
    "query",
    "router",
    "schema",
    "service",
    "subscription",
    "supergraph",
    "system",
    "user",
    "webhook",
    "webhooks",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Nexus app manifest")]
pub struct Manifest {
    /// Lowercase letters and digits, 2 to 32 characters, unique across apps. Every type the app
    /// defines starts with it in PascalCase, every field it adds with it in camelCase.
    pub namespace: String,
    pub name: String,
    /// Semantic version of this app version, e.g. `1.2.0`.
    pub version: String,
    /// What the app does, in Markdown (at most 20,000 characters): shown in the store rendered
    /// and sanitized, never as raw HTML.
    #[serde(default)]
    pub description: String,
    /// The app's main category, from the platform's list (`storeCategories`).
    pub category: String,
    pub author: Author,
    pub pricing: Pricing,
    #[serde(default)]
    pub urls: Urls,
    /// How the store shows the app; takes effect when the version is approved.
    #[serde(default, skip_serializing_if = "listing::Listing::is_empty")]
    pub listing: listing::Listing,
    pub graphql: GraphqlConfig,
    #[serde(default)]
    pub scopes: Scopes,
    /// Where events are delivered and which ones (see `docs/webhooks.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Webhooks>,
    /// Path on the subgraph's origin that answers 2xx when the app is healthy, e.g. `/health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    /// The app as an OAuth client: where Nexus may send a browser back after authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuth>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth {
    /// Compared exactly, character for character. `https` URLs, or `http` on a loopback address
    /// (`127.0.0.1`, `[::1]`, `localhost`; RFC 8252 for apps on the user's own machine); no
    /// fragment, no user or password; 1 to 10 of them.
    pub redirect_uris: Vec<String>,
    /// How the app proves itself at the token endpoint when it redeems a sign-in
    /// (`authorization_code`, `refresh_token`, revocation). `client_secret_basic` (the default)
    /// or `client_secret_post`: a server that keeps the client secret. `none`: a public client
    /// (RFC 8252: a native app on the user's device, or one in a browser) that holds no secret
    /// and names itself with `client_id` alone; its codes are bound by PKCE (always required) and
    /// its refresh tokens rotate, a reused one revoking the sign-in. Installation tokens
    /// (`client_credentials`) and token exchange always need the secret.
    #[serde(default, skip_serializing_if = "TokenEndpointAuthMethod::is_default")]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
}

/// RFC 7591's names for how a client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl TokenEndpointAuthMethod {
    fn is_default(&self) -> bool {
        *self == TokenEndpointAuthMethod::default()
    }

    /// A public client: no secret.
    pub fn is_public(&self) -> bool {
        *self == TokenEndpointAuthMethod::None
    }
}

/// Redirect URIs an app may register at most.
pub const MAX_REDIRECT_URIS: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Author {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

// One enum for the manifest, the `apps.pricing_model` column and the graph's `PricingModel`
// (the `entity` feature, for the apps service): the lowercase names are what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(
    feature = "entity",
    derive(EnumIter, DeriveActiveEnum, async_graphql::Enum),
    sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")
)]
#[serde(rename_all = "lowercase")]
pub enum PricingModel {
    #[cfg_attr(feature = "entity", sea_orm(string_value = "free"))]
    Free,
    #[cfg_attr(feature = "entity", sea_orm(string_value = "paid"))]
    Paid,
    #[cfg_attr(feature = "entity", sea_orm(string_value = "subscription"))]
    Subscription,
    #[cfg_attr(feature = "entity", sea_orm(string_value = "trial"))]
    Trial,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub model: PricingModel,
    /// In minor units of `currency` (cents); paid and subscription apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<i64>,
    /// ISO 4217 code, e.g. `USD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Trial apps: days of the automatic trial license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<i32>,
    /// One line the store shows beside the model, e.g. "Free up to 5 users, then $4 a user".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Pricing {
    pub fn free() -> Self {
        Pricing {
            model: PricingModel::Free,
            price_cents: None,
            currency: None,
            trial_days: None,
            summary: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Urls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
    /// The app's terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphqlConfig {
    /// The app's federation-v2 subgraph, answering `{ _service { sdl } }`.
    pub subgraph_url: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scopes {
    /// Granted on every installation.
    #[serde(default)]
    pub required: Vec<String>,
    /// An organization may grant these or not.
    #[serde(default)]
    pub optional: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// The https URL that receives the app's events as Standard Webhooks POSTs.
    pub endpoint: String,
    /// Event names from the catalog, each alone or with a GraphQL query that shapes its `data`.
    pub events: Vec<Subscription>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Subscription {
    /// An event name, e.g. `app.installed`.
    Event(String),
    Shaped {
        event: String,
        /// Run as the installation at delivery, with the event's ids as variables; its result is
        /// sent as `data`.
        query: String,
    },
}

impl Subscription {
    pub fn event(&self) -> &str {
        match self {
            Subscription::Event(event) | Subscription::Shaped { event, .. } => event,
        }
    }
}

/// One problem with a manifest: where (a JSON pointer), what rule, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManifestProblem {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

/// The manifest's JSON Schema, as committed at `schema/manifest.schema.json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default()
}

/// Parses and validates a manifest: every problem at once, or the manifest.
pub fn validate(
    document: &serde_json::Value,
    scope_catalog: &[&str],
) -> Result<Manifest, Vec<ManifestProblem>> {
    let schema = json_schema();
    let mut problems: Vec<ManifestProblem> = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator
            .iter_errors(document)
            .map(|e| ManifestProblem {
                path: pointer(&e.instance_path().to_string()),
                code: "SCHEMA",
                message: e.to_string(),
            })
            .collect(),
        Err(e) => vec![ManifestProblem {
            path: "/".into(),
            code: "SCHEMA",
            message: format!("the manifest schema itself is invalid: {e}"),
        }],
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let manifest: Manifest = match serde_json::from_value(document.clone()) {
        Ok(m) => m,
        Err(e) => {
            return Err(vec![ManifestProblem {
                path: "/".into(),
                code: "SCHEMA",
                message: e.to_string(),
            }]);
        }
    };
    let mut problem = |path: &str, code: &'static str, message: String| {
        problems.push(ManifestProblem {
            path: path.to_owned(),
            code,
            message,
        })
    };

    check_fields(&manifest, &mut problem);
    check_pricing(&manifest.pricing, &mut problem);
    listing::check(&manifest, &mut problem);
    check_urls(&manifest, &mut problem);
    check_scopes(&manifest, scope_catalog, &mut problem);
    check_webhooks(&manifest, &mut problem);
    check_oauth(&manifest, &mut problem);
    check_health_check(&manifest, &mut problem);
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(problems)
    }
}

/// The listing's own fields: namespace, name, version, category, the author's address.
fn check_fields(manifest: &Manifest, problem: &mut impl FnMut(&str, &'static str, String)) {
    if let Err(message) = check_namespace(&manifest.namespace) {
        problem("/namespace", "NAMESPACE", message);
    }
    if let Err(message) = check_name(&manifest.name) {
        problem("/name", "NAME", message);
    }
    if semver::Version::parse(&manifest.version).is_err() {
        problem(
            "/version",
            "VERSION",
            format!(
                "`{}` is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)",
                manifest.version
            ),
        );
    }
    if let Err(message) = check_category(&manifest.category) {
        problem("/category", "CATEGORY", message);
    }
    if !manifest.author.email.contains('@') {
        problem(
            "/author/email",
            "EMAIL",
            format!("`{}` is not an email address", manifest.author.email),
        );
    }
}

/// Every URL the manifest names: http(s), absolute.
fn check_urls(manifest: &Manifest, problem: &mut impl FnMut(&str, &'static str, String)) {
    let urls = [
        ("/author/url", manifest.author.url.as_deref()),
        ("/urls/app", manifest.urls.app.as_deref()),
        ("/urls/docs", manifest.urls.docs.as_deref()),
        ("/urls/support", manifest.urls.support.as_deref()),
        ("/urls/privacy", manifest.urls.privacy.as_deref()),
        ("/urls/terms", manifest.urls.terms.as_deref()),
        (
            "/graphql/subgraph_url",
            Some(manifest.graphql.subgraph_url.as_str()),
        ),
    ];
    for (path, url) in urls {
        if let Some(url) = url
            && let Err(message) = http_url(url)
        {
            problem(path, "URL", message);
        }
    }
}

/// Scopes from the platform's catalog, each once.
fn check_scopes(
    manifest: &Manifest,
    scope_catalog: &[&str],
    problem: &mut impl FnMut(&str, &'static str, String),
) {
    let mut seen = BTreeSet::new();
    for (list, scopes) in [
        ("required", &manifest.scopes.required),
        ("optional", &manifest.scopes.optional),
    ] {
        for (i, scope) in scopes.iter().enumerate() {
            let path = format!("/scopes/{list}/{i}");
            if !scope_catalog.contains(&scope.as_str()) {
                problem(
                    &path,
                    "SCOPE",
                    format!(
                        "unknown scope `{scope}`; the platform's scopes are {}",
                        scope_catalog.join(", ")
                    ),
                );
            } else if !seen.insert(scope.clone()) {
                problem(&path, "SCOPE", format!("scope `{scope}` is listed twice"));
            }
        }
    }
}

/// The webhook endpoint and the events it subscribes to, each once.
fn check_webhooks(manifest: &Manifest, problem: &mut impl FnMut(&str, &'static str, String)) {
    if let Some(webhooks) = &manifest.webhooks {
        if let Err(message) = http_url(&webhooks.endpoint) {
            problem("/webhooks/endpoint", "URL", message);
        }
        if webhooks.events.is_empty() {
            problem(
                "/webhooks/events",
                "EVENT",
                "list at least one event, or leave `webhooks` out".into(),
            );
        }
        let mut seen = BTreeSet::new();
        for (j, subscription) in webhooks.events.iter().enumerate() {
            let event = subscription.event();
            if !nexus_protocol::events::subscribable(event) {
                let names: Vec<&str> = nexus_protocol::events::CATALOG
                    .iter()
                    .map(|e| e.name)
                    .filter(|n| nexus_protocol::events::subscribable(n))
                    .collect();
                problem(
                    &format!("/webhooks/events/{j}"),
                    "EVENT",
                    format!(
                        "unknown event `{event}`; the events are {}",
                        names.join(", ")
                    ),
                );
            } else if !seen.insert(event.to_owned()) {
                problem(
                    &format!("/webhooks/events/{j}"),
                    "EVENT",
                    format!("event `{event}` is listed twice"),
                );
            }
        }
    }
}

/// The app as an OAuth client: its redirect URIs.
fn check_oauth(manifest: &Manifest, problem: &mut impl FnMut(&str, &'static str, String)) {
    if let Some(oauth) = &manifest.oauth {
        if oauth.redirect_uris.is_empty() || oauth.redirect_uris.len() > MAX_REDIRECT_URIS {
            problem(
                "/oauth/redirect_uris",
                "REDIRECT_URI",
                format!("list 1 to {MAX_REDIRECT_URIS} redirect URIs, or leave `oauth` out"),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, uri) in oauth.redirect_uris.iter().enumerate() {
            let path = format!("/oauth/redirect_uris/{i}");
            if let Err(message) = redirect_uri(uri) {
                problem(&path, "REDIRECT_URI", message);
            } else if !seen.insert(uri.as_str()) {
                problem(&path, "REDIRECT_URI", format!("`{uri}` is listed twice"));
            }
        }
    }
}

/// The health check: a path on the subgraph's origin.
fn check_health_check(manifest: &Manifest, problem: &mut impl FnMut(&str, &'static str, String)) {
    if let Some(path) = &manifest.health_check
        && (!path.starts_with('/') || path.contains("://") || path.len() > 256)
    {
        problem(
            "/health_check",
            "HEALTH_CHECK",
            format!("`{path}` must be a path on the subgraph's origin, starting with `/`"),
        );
    }
}

/// Lowercase letters then letters or digits, 2 to 32 characters, not reserved.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    let shape_ok = (2..=32).contains(&namespace.len())
        && namespace.starts_with(|c: char| c.is_ascii_lowercase())
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !shape_ok {
        return Err(format!(
            "`{namespace}` is not a valid namespace: use 2 to 32 lowercase letters and digits, starting with a letter"
        ));
    }
    if RESERVED_NAMESPACES.contains(&namespace) {
        return Err(format!(
            "the namespace `{namespace}` is reserved by the platform"
        ));
    }
    Ok(())
}

/// An app's listing fields set outside a manifest (`createApp`, the seed) follow the manifest's
/// rules: its first problem, if any.
pub fn check_listing(
    namespace: &str,
    name: &str,
    category: &str,
    pricing: &Pricing,
) -> Result<(), String> {
    check_namespace(namespace)?;
    check_name(name)?;
    check_category(category)?;
    let mut first = None;
    check_pricing(pricing, &mut |_: &str, _, message| {
        first.get_or_insert(message);
    });
    first.map_or(Ok(()), Err)
}

pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err("the name must be 1 to 200 characters".into());
    }
    Ok(())
}

pub fn check_category(category: &str) -> Result<(), String> {
    if category.trim().is_empty() || category.len() > 64 {
        return Err("the category must be 1 to 64 characters".into());
    }
    Ok(())
}

pub fn check_pricing(pricing: &Pricing, problem: &mut impl FnMut(&str, &'static str, String)) {
    let priced = matches!(
        pricing.model,
        PricingModel::Paid | PricingModel::Subscription
    );
    if priced {
        if pricing.price_cents.is_none_or(|p| p <= 0) {
            problem(
                "/pricing/price_cents",
                "PRICING",
                "paid and subscription apps need a positive `price_cents`".into(),
            );
        }
        if !pricing
            .currency
            .as_deref()
            .is_some_and(|c| c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase()))
        {
            problem(
                "/pricing/currency",
                "PRICING",
                "paid and subscription apps need a 3-letter uppercase ISO 4217 `currency`".into(),
            );
        }
    } else if pricing.price_cents.is_some() || pricing.currency.is_some() {
        problem(
            "/pricing",
            "PRICING",
            "only paid and subscription apps take a price and currency".into(),
        );
    }
    match (pricing.model, pricing.trial_days) {
        (PricingModel::Trial, Some(d)) if (1..=365).contains(&d) => {}
        (PricingModel::Trial, _) => problem(
            "/pricing/trial_days",
            "PRICING",
            "trial apps need `trial_days` between 1 and 365".into(),
        ),
        (_, Some(_)) => problem(
            "/pricing/trial_days",
            "PRICING",
            "only trial apps take `trial_days`".into(),
        ),
        (_, None) => {}
    }
}

fn http_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("`{url}` must be an http(s) URL")),
        Err(e) => Err(format!("`{url}` is not a URL: {e}")),
    }
}

/// A redirect URI an authorization server may send a browser to (RFC 6749 §3.1.2, RFC 8252 §7.3,
/// OAuth 2.1): absolute, `https` or loopback `http`, without a fragment or credentials.
fn redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > 2048 {
        return Err("a redirect URI has at most 2048 characters".into());
    }
    let parsed = url::Url::parse(uri).map_err(|e| format!("`{uri}` is not a URL: {e}"))?;
    let loopback = matches!(
        parsed.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match parsed.scheme() {
        "https" if parsed.host().is_some() => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "`{uri}` must use https (http only on a loopback address)"
            ));
        }
        _ => return Err(format!("`{uri}` must be an https URL")),
    }
    if parsed.fragment().is_some() {
        return Err(format!("`{uri}` must not have a fragment (`#…`)"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{uri}` must not carry a user or password"));
    }
    Ok(())
}

fn pointer(path: &str) -> String {
    if path.is_empty() {
        "/".into()
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CATALOG: &[&str] = &["users:read", "organizations:read"];

    fn good() -> serde_json::Value {
        json!({
            "namespace": "analytics",
            "name": "Analytics",
            "version": "1.0.0",
            "description": "Usage analytics",
            "category": "insights",
            "author": { "name": "Ada", "email": "ada@example.com" },
            "pricing": { "model": "free" },
            "urls": { "docs": "https://example.com/docs" },
            "graphql": { "subgraph_url": "http://127.0.0.1:5001/graphql" },
            "scopes": { "required": ["users:read"], "optional": ["organizations:read"] },
            "webhooks": { "endpoint": "https://example.com/hooks", "events": ["app.installed"] },
            "health_check": "/health",
            "oauth": { "redirect_uris": ["https://app.example.com/callback", "http://127.0.0.1:5001/callback"] }
        })
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_and_exact() {
        let mut doc = good();
        doc["oauth"]["redirect_uris"] = json!([
            "https://app.example.com/cb?tenant=1",
            "http://localhost:8080/cb",
            "http://[::1]/cb",
            "http://app.example.com/cb",
            "https://app.example.com/cb#done",
            "https://user:pw@app.example.com/cb",
            "myapp:/cb",
            "/cb",
            "https://app.example.com/cb?tenant=1"
        ]);
        let problems = validate(&doc, CATALOG).expect_err("invalid");
        let found: Vec<(&str, &str)> = problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
        assert_eq!(
            found,
            [
                ("/oauth/redirect_uris/3", "REDIRECT_URI"),
                ("/oauth/redirect_uris/4", "REDIRECT_URI"),
                ("/oauth/redirect_uris/5", "REDIRECT_URI"),
                ("/oauth/redirect_uris/6", "REDIRECT_URI"),
                ("/oauth/redirect_uris/7", "REDIRECT_URI"),
                ("/oauth/redirect_uris/8", "REDIRECT_URI"),
            ],
            "{problems:?}"
        );
        assert!(
            problems[0].message.contains("must use https"),
            "{problems:?}"
        );
        assert!(problems[1].message.contains("fragment"), "{problems:?}");
        assert!(problems[5].message.contains("twice"), "{problems:?}");
        doc["oauth"]["redirect_uris"] = json!([]);
        let problems = validate(&doc, CATALOG).expect_err("invalid");
        assert_eq!(problems[0].path, "/oauth/redirect_uris", "{problems:?}");
    }

    #[test]
    fn a_client_authenticates_with_a_secret_or_is_public() {
        let manifest = validate(&good(), CATALOG).expect("valid");
        let oauth = manifest.oauth.expect("oauth");
        assert!(
            !oauth.token_endpoint_auth_method.is_public(),
            "a secret by default"
        );
        let mut doc = good();
        doc["oauth"]["token_endpoint_auth_method"] = json!("none");
        let oauth = validate(&doc, CATALOG)
            .expect("valid")
            .oauth
            .expect("oauth");
        assert!(oauth.token_endpoint_auth_method.is_public());
        doc["oauth"]["token_endpoint_auth_method"] = json!("private_key_jwt");
        let problems = validate(&doc, CATALOG).expect_err("not a method Nexus speaks");
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("private_key_jwt")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_good_manifest_validates() {
        let manifest = validate(&good(), CATALOG).expect("valid");
        assert_eq!(manifest.namespace, "analytics");
        assert_eq!(manifest.scopes.required, ["users:read"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut doc = good();
        doc["namespace"] = json!("user");
        doc["version"] = json!("one");
        doc["graphql"]["subgraph_url"] = json!("ftp://example.com");
        doc["scopes"]["required"] = json!(["users:read", "everything"]);
        doc["webhooks"]["events"] = json!(["app.exploded"]);
        doc["health_check"] = json!("health");
        doc["pricing"] = json!({ "model": "paid" });
        let problems = validate(&doc, CATALOG).expect_err("invalid");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/namespace",
                "/version",
                "/pricing/price_cents",
                "/pricing/currency",
                "/graphql/subgraph_url",
                "/scopes/required/1",
                "/webhooks/events/0",
                "/health_check"
            ]
        );
        assert!(problems[0].message.contains("reserved"), "{problems:?}");
    }

    #[test]
    fn structural_errors_come_from_the_schema_with_paths() {
        let mut doc = good();
        doc["author"] = json!({ "name": "Ada" });
        doc["unexpected"] = json!(true);
        doc["pricing"]["model"] = json!("gratis");
        let problems = validate(&doc, CATALOG).expect_err("invalid");
        assert!(problems.iter().all(|p| p.code == "SCHEMA"), "{problems:?}");
        let paths: BTreeSet<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains("/author"), "{problems:?}");
        assert!(paths.contains("/pricing/model"), "{problems:?}");
        assert!(paths.contains("/"), "{problems:?}");
    }
}
