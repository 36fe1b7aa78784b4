//! __NAME__: a federation subgraph adding `User.__NS__Note` and `Organization.__NS__Settings` to the
//! Nexus graph, by the core's `id` only (the extension policy: every type starts with
//! `__PREFIX__`, every field on a core type with `__NS__`). Every call from the router carries a
//! context token, verified with the Nexus SDK; webhooks are verified the same way.

pub mod sign_in;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, EmptySubscription, ID, Object, Schema, SimpleObject};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nexus_app::{ContextClaims, ContextVerifier};

pub const NAMESPACE: &str = "__NS__";

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    /// The platform, e.g. `http://127.0.0.1:4000` (its issuer; the JWKS is below it).
    pub platform: String,
    /// The webhook endpoint's `whsec_` secrets (current first), when the platform gave one;
    /// deliveries are also accepted with the platform's Ed25519 signature.
    pub webhook_secrets: Vec<String>,
    /// "Sign in with Nexus": the app's OAuth client id, once it has one.
    pub client_id: Option<String>,
}

impl Config {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Config {
            port: var("PORT").and_then(|p| p.parse().ok()).unwrap_or(__PORT__),
            platform: var("NEXUS_URL").unwrap_or_else(|| "http://127.0.0.1:4000".into()),
            webhook_secrets: var("NEXUS_WEBHOOK_SECRETS")
                .map(|s| s.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            client_id: var("NEXUS_CLIENT_ID"),
        }
    }
}

pub struct App {
    pub config: Config,
    verifier: ContextVerifier,
    /// Notes by (organization, user): in memory, enough to start from.
    notes: Mutex<HashMap<(String, String), String>>,
    pub received: webhooks::Received,
    schema: Schema<Query, Mutation, EmptySubscription>,
}

pub struct User {
    id: ID,
}

#[Object]
impl User {
    async fn id(&self) -> &ID {
        &self.id
    }

    /// A note about this user, kept per organization. Nullable, as every field an app adds to a
    /// core type should be: where the app is not installed, the router answers null for it.
    async fn __NS___note(&self, ctx: &Context<'_>) -> Option<String> {
        let (app, claims) = (ctx.data_unchecked::<Arc<App>>(), ctx.data_unchecked::<ContextClaims>());
        let key = (claims.org.clone().unwrap_or_default(), self.id.to_string());
        app.notes.lock().ok()?.get(&key).cloned()
    }
}

#[derive(SimpleObject)]
pub struct __PREFIX__Settings {
    /// Who is asking, as the platform says: the context token's role in this organization.
    pub viewer_role: Option<String>,
    pub granted_scopes: Vec<String>,
}

pub struct Organization {
    id: ID,
}

#[Object]
impl Organization {
    async fn id(&self) -> &ID {
        &self.id
    }

    async fn __NS___settings(&self, ctx: &Context<'_>) -> Option<__PREFIX__Settings> {
        let claims = ctx.data_unchecked::<ContextClaims>();
        // Only the organization the call acts in.
        (claims.org.as_deref() == Some(self.id.as_str())).then(|| __PREFIX__Settings {
            viewer_role: claims.role.clone(),
            granted_scopes: claims.scopes.clone(),
        })
    }
}

pub struct Query;

#[Object]
impl Query {
    /// Says hello to the caller.
    async fn __NS___hello(&self, ctx: &Context<'_>) -> String {
        let claims = ctx.data_unchecked::<ContextClaims>();
        format!("Hello from __NAME__, {}", claims.sub)
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }

    #[graphql(entity)]
    async fn find_organization_by_id(&self, id: ID) -> Organization {
        Organization { id }
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Writes the note about `user_id` in the caller's organization.
    async fn __NS___set_note(&self, ctx: &Context<'_>, user_id: ID, text: String) -> Option<String> {
        let (app, claims) = (ctx.data_unchecked::<Arc<App>>(), ctx.data_unchecked::<ContextClaims>());
        let key = (claims.org.clone()?, user_id.to_string());
        app.notes.lock().ok()?.insert(key, text.clone());
        Some(text)
    }
}

pub fn schema() -> Schema<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .finish()
}

pub fn router(config: Config) -> axum::Router {
    let app = Arc::new(App {
        verifier: ContextVerifier::new(&config.platform, NAMESPACE),
        config,
        notes: Mutex::new(HashMap::new()),
        received: Default::default(),
        schema: schema(),
    });
    axum::Router::new()
        .route("/graphql", post(graphql))
        .route("/health", get(|| async { "ok" }))
        .route("/webhooks", post(webhooks::receive).get(webhooks::list))
        .route("/sign-in", get(sign_in::start))
        .route("/sign-in/callback", get(sign_in::callback))
        .with_state(app)
}

async fn graphql(State(app): State<Arc<App>>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let request = request.into_inner();
    // The platform fetches the SDL without a token; everything else needs one.
    if request.query.contains("_service") && !request.query.contains("_entities") {
        return GraphQLResponse::from(app.schema.execute(request).await).into_response();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match app.verifier.verify(token).await {
        Ok(claims) => {
            let request = request.data(app.clone()).data(claims);
            GraphQLResponse::from(app.schema.execute(request).await).into_response()
        }
        Err(refused) => (StatusCode::UNAUTHORIZED, format!("context token refused: {}", refused.code())).into_response(),
    }
}
