//! Receiving Nexus webhooks without any shared secret: each delivery's `v1a` signature (Ed25519
//! over `{webhook-id}.{webhook-timestamp}.{body}`, Standard Webhooks) is checked against the
//! Nexus JWKS, the timestamp must be within five minutes, the delivery must be addressed to this
//! app (`recipient.namespace`: a `v1a` signature is the platform's, valid for whichever app it
//! was sent to), and a `webhook-id` seen before is acknowledged without being handled twice.
//! Facts are read from the top level and `data`; `shaped` is what this app's own payload query
//! answered. `GET /webhooks` lists what was received.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::App;

/// How far a delivery's timestamp may be from this machine's clock.
const TOLERANCE_SECONDS: i64 = 5 * 60;

pub async fn receive(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signatures) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let Ok(sent) = timestamp.parse::<i64>() else {
        return (StatusCode::BAD_REQUEST, "no webhook-timestamp".into());
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    if (now - sent).abs() > TOLERANCE_SECONDS {
        return (StatusCode::BAD_REQUEST, "stale webhook-timestamp".into());
    }
    let content = format!("{id}.{timestamp}.{body}");
    if !app.verify_v1a(&content, &signatures).await {
        return (StatusCode::UNAUTHORIZED, "no valid v1a signature".into());
    }
    let Ok(event) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON".into());
    };
    if event["recipient"]["namespace"] != crate::NAMESPACE {
        return (
            StatusCode::FORBIDDEN,
            "this delivery is addressed to another app".into(),
        );
    }
    if let Ok(mut received) = app.webhooks.lock() {
        // Retries carry the same webhook-id: acknowledged, handled once.
        if !received.iter().any(|(seen, _)| *seen == id) {
            received.push((id, event));
        }
    }
    (StatusCode::NO_CONTENT, String::new())
}

/// The events received, oldest first, each once.
pub async fn list(State(app): State<Arc<App>>) -> Json<Vec<Value>> {
    let received = app.webhooks.lock().map(|r| r.clone()).unwrap_or_default();
    Json(
        received
            .into_iter()
            .map(|(id, event)| serde_json::json!({ "webhook_id": id, "event": event }))
            .collect(),
    )
}

impl App {
    /// Whether one of the `v1a,` signatures verifies with a key of the JWKS.
    async fn verify_v1a(&self, content: &str, signatures: &str) -> bool {
        let mut set = self.cached_jwks();
        for attempt in 0..2 {
            if let Some(set) = &set {
                for part in signatures.split(' ') {
                    let Some(signature) = part.strip_prefix("v1a,") else {
                        continue;
                    };
                    let Ok(bytes) = STANDARD.decode(signature) else {
                        continue;
                    };
                    let signature = URL_SAFE_NO_PAD.encode(bytes);
                    for jwk in &set.keys {
                        let Ok(key) = DecodingKey::from_jwk(jwk) else {
                            continue;
                        };
                        if jsonwebtoken::crypto::verify(
                            &signature,
                            content.as_bytes(),
                            &key,
                            Algorithm::EdDSA,
                        )
                        .unwrap_or(false)
                        {
                            return true;
                        }
                    }
                }
            }
            // A key rotated since the JWKS was fetched: fetch it once more.
            if attempt == 0 {
                set = self.fetch_jwks().await.ok();
            }
        }
        false
    }
}
