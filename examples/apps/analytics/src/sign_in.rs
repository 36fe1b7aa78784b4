//! "Sign in with Nexus": the app signs a person in through Nexus with a standard OpenID Connect
//! library (`openidconnect`), nothing Nexus-specific: discovery, the authorization code flow with
//! PKCE and a nonce, the id_token verified against the published keys (EdDSA), `iss` checked on
//! the way back (RFC 9207). `GET /login` starts it, `GET /callback` finishes it and shows who
//! signed in, and in which organization.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// The app's OAuth client registration (its id and secret from Nexus, its manifest's redirect URI).
#[derive(Clone, Debug)]
pub struct SignInConfig {
    pub client_id: String,
    pub client_secret: String,
    /// e.g. `http://127.0.0.1:5001/callback` (listed in the manifest's `oauth.redirect_uris`).
    pub redirect_uri: String,
}

/// Nexus's one claim beyond the standard ones: the organization the sign-in is for.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NexusClaims {
    pub org: String,
}
impl AdditionalClaims for NexusClaims {}

type NexusTokenResponse = StandardTokenResponse<
    IdTokenFields<
        NexusClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type NexusClient = openidconnect::Client<
    NexusClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    NexusTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Sign-ins under way: state → (PKCE verifier, nonce). In memory: enough for an example.
#[derive(Default)]
pub struct Pending(Mutex<HashMap<String, (PkceCodeVerifier, Nonce)>>);

pub struct SignIn {
    config: SignInConfig,
    issuer: String,
    http: openidconnect::reqwest::Client,
    pending: Pending,
}

impl SignIn {
    pub fn new(config: SignInConfig, issuer: String) -> SignIn {
        SignIn {
            config,
            issuer,
            // Following redirects would let a hostile endpoint send the client anywhere.
            http: openidconnect::reqwest::Client::builder()
                .redirect(openidconnect::reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            pending: Pending::default(),
        }
    }

    /// The client, from Nexus's discovery document (fetched each time: an example keeps it short).
    async fn client(&self) -> Result<NexusClient, String> {
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|e| e.to_string())?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| format!("cannot read Nexus's discovery document: {e}"))?;
        let redirect =
            RedirectUrl::new(self.config.redirect_uri.clone()).map_err(|e| e.to_string())?;
        Ok(NexusClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }
}

fn page(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(format!("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Analytics</title><body>{body}</body></html>")),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /login`: off to Nexus.
pub async fn login(State(sign_in): State<Arc<SignIn>>) -> Response {
    let client = match sign_in.client().await {
        Ok(client) => client,
        Err(e) => return page(StatusCode::BAD_GATEWAY, escape(&e)),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<openidconnect::core::CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("users:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    if let Ok(mut pending) = sign_in.pending.0.lock() {
        // Abandoned sign-ins are forgotten rather than kept forever.
        if pending.len() > 1000 {
            pending.clear();
        }
        pending.insert(state.secret().clone(), (verifier, nonce));
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response()
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /callback`: back from Nexus with a code (or an error).
pub async fn callback(
    State(sign_in): State<Arc<SignIn>>,
    Query(back): Query<Callback>,
) -> Response {
    if let Some(error) = back.error {
        return page(
            StatusCode::FORBIDDEN,
            format!(
                "<h1>Not signed in</h1><p>Nexus said <code>{}</code>: {}</p>",
                escape(&error),
                escape(&back.error_description.unwrap_or_default())
            ),
        );
    }
    // RFC 9207: the answer must come from the issuer this sign-in went to (no mix-up).
    if back.iss.as_deref() != Some(sign_in.issuer.as_str()) {
        return page(
            StatusCode::BAD_REQUEST,
            "the answer is not from Nexus".into(),
        );
    }
    let pending = back
        .state
        .and_then(|state| sign_in.pending.0.lock().ok()?.remove(&state));
    let (Some((verifier, nonce)), Some(code)) = (pending, back.code) else {
        return page(
            StatusCode::BAD_REQUEST,
            "unknown or replayed sign-in".into(),
        );
    };
    match finish(&sign_in, code, verifier, nonce).await {
        Ok(body) => page(StatusCode::OK, body),
        Err(e) => page(
            StatusCode::BAD_GATEWAY,
            format!("<h1>Not signed in</h1><p>{}</p>", escape(&e)),
        ),
    }
}

async fn finish(
    sign_in: &SignIn,
    code: String,
    verifier: PkceCodeVerifier,
    nonce: Nonce,
) -> Result<String, String> {
    let client = sign_in.client().await?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(verifier)
        .request_async(&sign_in.http)
        .await
        .map_err(|e| format!("the code exchange failed: {e}"))?;
    let id_token = tokens.id_token().ok_or("Nexus sent no id_token")?;
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .map_err(|e| format!("the id_token does not verify: {e}"))?;
    // The access token came with this id_token (OpenID Connect Core §3.1.3.8).
    if let Some(expected) = claims.access_token_hash() {
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().map_err(|e| e.to_string())?,
            id_token
                .signing_key(&id_verifier)
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        if actual != *expected {
            return Err("the access token does not belong to the id_token".into());
        }
    }
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let email = claims
        .email()
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    Ok(format!(
        "<h1>Signed in with Nexus</h1><p>as <strong>{}</strong> &lt;{}&gt; (user <code>{}</code>)</p><p>in organization <code>{}</code></p>",
        escape(&name),
        escape(&email),
        escape(claims.subject().as_str()),
        escape(&claims.additional_claims().org),
    ))
}
