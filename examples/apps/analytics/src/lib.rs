//! The analytics example app. Every call from the router carries a context token; the app verifies
//! it against the Nexus JWKS and serves data of the token's organization only. It also receives
//! its webhooks (`webhooks`), verified against the same JWKS.

pub mod license;
pub mod sign_in;
mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::{Context, EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

pub const NAMESPACE: &str = "analytics";

#[derive(Clone, Debug)]
pub struct Config {
    /// `{router}/.well-known/jwks.json`
    pub jwks_url: String,
    /// The Nexus issuer, e.g. `http://127.0.0.1:4000`.
    pub issuer: String,
    /// "Sign in with Nexus" (`/login`, `/callback`), once the app has client credentials.
    pub sign_in: Option<sign_in::SignInConfig>,
}

/// What the router told us about the caller.
#[derive(Clone, Debug, Deserialize)]
pub struct ContextClaims {
    pub sub: String,
    pub org: String,
    pub inst: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

struct App {
    config: Config,
    http: reqwest::Client,
    jwks: Mutex<Option<(JwkSet, Instant)>>,
    /// (organization, user) → visits: in-memory is enough for an example.
    visits: Mutex<HashMap<(String, String), i32>>,
    /// Webhooks received: (webhook-id, event), each once.
    webhooks: Mutex<Vec<(String, serde_json::Value)>>,
    schema: Schema<Query, EmptyMutation, EmptySubscription>,
}

#[derive(SimpleObject)]
pub struct AnalyticsProfile {
    pub visits: i32,
}

#[derive(SimpleObject)]
pub struct AnalyticsDashboard {
    pub active_users: i32,
    pub page_views: i32,
}

pub struct User {
    id: ID,
}

#[Object]
impl User {
    async fn id(&self) -> &ID {
        &self.id
    }

    /// How often this user used the product, in your organization. Nullable, like every field an
    /// app adds to a core type: where the app is not installed the router answers null for it,
    /// and a non-null field would null the whole user.
    async fn analytics_profile(&self, ctx: &Context<'_>) -> Option<AnalyticsProfile> {
        let app = ctx.data_unchecked::<Arc<App>>();
        let claims = ctx.data_unchecked::<ContextClaims>();
        let key = (claims.org.clone(), self.id.to_string());
        let visits = app.visits.lock().map_or(0, |mut v| {
            let n = v.entry(key).or_insert(0);
            *n += 1;
            *n
        });
        Some(AnalyticsProfile { visits })
    }
}

pub struct Organization {
    id: ID,
}

#[Object]
impl Organization {
    async fn id(&self) -> &ID {
        &self.id
    }

    async fn analytics_dashboard(&self, ctx: &Context<'_>) -> Option<AnalyticsDashboard> {
        let app = ctx.data_unchecked::<Arc<App>>();
        let org = self.id.to_string();
        let (users, views) = app.visits.lock().map_or((0, 0), |v| {
            let mine: Vec<i32> = v
                .iter()
                .filter(|((o, _), _)| *o == org)
                .map(|(_, n)| *n)
                .collect();
            (mine.len() as i32, mine.iter().sum())
        });
        Some(AnalyticsDashboard {
            active_users: users,
            page_views: views,
        })
    }
}

pub struct Query;

#[Object]
impl Query {
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }

    #[graphql(entity)]
    async fn find_organization_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<Organization> {
        // Only the organization the token acts for.
        let claims = ctx.data_unchecked::<ContextClaims>();
        (id.as_str() == claims.org).then_some(Organization { id })
    }
}

pub fn schema() -> Schema<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

pub fn router(config: Config) -> axum::Router {
    let sign_in = config
        .sign_in
        .clone()
        .map(|c| Arc::new(sign_in::SignIn::new(c, config.issuer.clone())));
    let app = Arc::new(App {
        config,
        http: reqwest::Client::new(),
        jwks: Mutex::new(None),
        visits: Mutex::new(HashMap::new()),
        webhooks: Mutex::new(Vec::new()),
        schema: schema(),
    });
    let router = axum::Router::new()
        .route("/graphql", post(graphql))
        .route("/health", get(|| async { "ok" }))
        .route("/webhooks", post(webhooks::receive).get(webhooks::list))
        .with_state(app);
    match sign_in {
        Some(sign_in) => router.merge(
            axum::Router::new()
                .route("/login", get(sign_in::login))
                .route("/callback", get(sign_in::callback))
                .with_state(sign_in),
        ),
        None => router,
    }
}

async fn graphql(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let request = request.into_inner();
    // The registry fetches the SDL without a token; everything else needs one.
    if request.query.contains("_service") && !request.query.contains("_entities") {
        return GraphQLResponse::from(app.schema.execute(request).await).into_response();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims = match token {
        Some(token) => app.verify(token).await,
        None => Err("no context token".to_owned()),
    };
    match claims {
        Ok(claims) => {
            let request = request.data(app.clone()).data(claims);
            GraphQLResponse::from(app.schema.execute(request).await).into_response()
        }
        Err(e) => (StatusCode::UNAUTHORIZED, e).into_response(),
    }
}

impl App {
    /// Verifies a context token with the JWKS (refetched when a key is unknown or every 5 minutes).
    async fn verify(&self, token: &str) -> Result<ContextClaims, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("no kid")?;
        let mut set = self.cached_jwks();
        if set.as_ref().is_none_or(|s| s.find(&kid).is_none()) {
            set = Some(self.fetch_jwks().await?);
        }
        let set = set.ok_or("no JWKS")?;
        let jwk = set.find(&kid).ok_or("unknown signing key")?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[NAMESPACE]);
        validation.set_issuer(&[&self.config.issuer]);
        jsonwebtoken::decode::<ContextClaims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| format!("invalid context token: {e}"))
    }

    fn cached_jwks(&self) -> Option<JwkSet> {
        let cached = self.jwks.lock().ok()?;
        cached
            .as_ref()
            .filter(|(_, at)| at.elapsed() < Duration::from_secs(300))
            .map(|(set, _)| set.clone())
    }

    async fn fetch_jwks(&self) -> Result<JwkSet, String> {
        let set: JwkSet = self
            .http
            .get(&self.config.jwks_url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch the JWKS: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the JWKS is not valid: {e}"))?;
        if let Ok(mut cached) = self.jwks.lock() {
            *cached = Some((set.clone(), Instant::now()));
        }
        Ok(set)
    }
}
