//! "Sign in with Nexus": OAuth 2.1 authorization code with PKCE (S256) at the platform, then the
//! person's profile from its OpenID Connect userinfo endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::App;

/// PKCE verifiers of sign-ins under way, by `state`.
fn pending() -> &'static Mutex<HashMap<String, String>> {
    static PENDING: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn redirect_uri(app: &App) -> String {
    format!("http://127.0.0.1:{}/sign-in/callback", app.config.port)
}

pub async fn start(State(app): State<Arc<App>>) -> Response {
    let Some(client_id) = &app.config.client_id else {
        return (StatusCode::NOT_FOUND, "set NEXUS_CLIENT_ID to sign in with Nexus").into_response();
    };
    let (state, verifier) = (random(), random());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if let Ok(mut pending) = pending().lock() {
        pending.insert(state.clone(), verifier);
    }
    let query = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", &redirect_uri(&app)),
        ("scope", "openid profile email"),
        ("state", &state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", url_escape(v)))
    .collect::<Vec<_>>()
    .join("&");
    Redirect::to(&format!("{}/oauth/authorize?{query}", app.config.platform.trim_end_matches('/'))).into_response()
}

pub async fn callback(State(app): State<Arc<App>>, Query(params): Query<HashMap<String, String>>) -> Response {
    let verifier = params
        .get("state")
        .and_then(|s| pending().lock().ok()?.remove(s));
    let (Some(code), Some(verifier), Some(client_id)) = (params.get("code"), verifier, &app.config.client_id) else {
        return (StatusCode::BAD_REQUEST, "no sign-in under way").into_response();
    };
    let platform = app.config.platform.trim_end_matches('/');
    let http = reqwest::Client::new();
    let redirect = redirect_uri(&app);
    let token: serde_json::Value = match http
        .post(format!("{platform}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
    {
        Ok(answer) => answer.json().await.unwrap_or_default(),
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let Some(access) = token["access_token"].as_str() else {
        return (StatusCode::UNAUTHORIZED, format!("sign-in refused: {token}")).into_response();
    };
    let profile: serde_json::Value = match http.get(format!("{platform}/oauth/userinfo")).bearer_auth(access).send().await {
        Ok(answer) => answer.json().await.unwrap_or_default(),
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    format!("Signed in as {}", profile["email"].as_str().unwrap_or("?")).into_response()
}

fn url_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
