//! Webhooks from the platform (Standard Webhooks), verified with the Nexus SDK: the endpoint's
//! `whsec_` secret (`v1`) or the platform's own Ed25519 key (`v1a`, from its JWKS). A delivery
//! seen before (same `webhook-id`) is acknowledged and not handled twice.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use nexus_app::{Jwks, Webhook};
use serde_json::Value;

use crate::App;

/// Deliveries handled: (webhook-id, event).
pub type Received = Mutex<Vec<(String, Value)>>;

pub async fn receive(State(app): State<Arc<App>>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let secrets: Vec<&str> = app.config.webhook_secrets.iter().map(String::as_str).collect();
    let Ok(mut webhook) = Webhook::new(&secrets) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "NEXUS_WEBHOOK_SECRETS is not a webhook secret".into());
    };
    if header("webhook-signature").contains("v1a,") {
        match platform_keys(&app.config.platform).await {
            Some(keys) => webhook = webhook.with_platform_keys(keys),
            None => return (StatusCode::SERVICE_UNAVAILABLE, "the platform's keys cannot be fetched".into()),
        }
    }
    let id = header("webhook-id");
    if let Err(refused) = webhook.verify(&id, &header("webhook-timestamp"), &header("webhook-signature"), body.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, refused.code().to_owned());
    }
    let Ok(event) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON".into());
    };
    let Ok(mut received) = app.received.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into());
    };
    if !received.iter().any(|(seen, _)| *seen == id) {
        println!("webhook {}: {}", event["type"], event["data"]);
        received.push((id, event));
    }
    (StatusCode::NO_CONTENT, String::new())
}

pub async fn list(State(app): State<Arc<App>>) -> Json<Vec<Value>> {
    Json(app.received.lock().map(|r| r.iter().map(|(_, e)| e.clone()).collect()).unwrap_or_default())
}

async fn platform_keys(platform: &str) -> Option<Jwks> {
    let url = format!("{}/.well-known/jwks.json", platform.trim_end_matches('/'));
    let document: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    Jwks::parse(&document).ok()
}
