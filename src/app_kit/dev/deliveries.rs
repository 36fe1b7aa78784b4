//! The app's webhook deliveries, printed as they happen: each attempt once, with the app's
//! answer (or why there was none).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::platform::Platform;

const EVERY: Duration = Duration::from_millis(500);

const DELIVERIES: &str = "query($id: ID!) { app(id: $id) { webhookDeliveries(first: 20) { nodes { id webhookId eventType status createdAt attempts { statusCode latencyMs error responseExcerpt } } } } }";

/// Prints every attempt to deliver to `app_id` of a delivery made `since`, until aborted.
pub fn follow(
    platform: Arc<Platform>,
    app_id: String,
    since: chrono::DateTime<chrono::Utc>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut printed: HashMap<String, usize> = HashMap::new();
        loop {
            if let Ok(page) = recent(&platform, &app_id).await {
                // Oldest first, as they happened.
                for delivery in page.iter().rev() {
                    let created = delivery["createdAt"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                    if created.is_some_and(|t| t < since) {
                        continue;
                    }
                    let id = delivery["id"].as_str().unwrap_or_default().to_owned();
                    let attempts = delivery["attempts"].as_array().cloned().unwrap_or_default();
                    let done = printed.get(&id).copied().unwrap_or(0);
                    for attempt in attempts.iter().skip(done) {
                        println!("{}", describe(delivery, attempt));
                    }
                    printed.insert(id, attempts.len().max(done));
                }
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

/// The app's newest deliveries.
pub async fn recent(platform: &Platform, app_id: &str) -> anyhow::Result<Vec<Value>> {
    let data = platform.data(DELIVERIES, json!({ "id": app_id })).await?;
    Ok(data["app"]["webhookDeliveries"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// `webhook app.installed msg_… → 204 in 12 ms`, or what went wrong.
pub fn describe(delivery: &Value, attempt: &Value) -> String {
    let event = delivery["eventType"].as_str().unwrap_or("?");
    let id = delivery["webhookId"].as_str().unwrap_or("?");
    let answer = match attempt["statusCode"].as_i64() {
        Some(status) => format!(
            "{status} in {} ms",
            attempt["latencyMs"].as_i64().unwrap_or_default()
        ),
        None => format!(
            "no answer: {}",
            attempt["error"].as_str().unwrap_or("unknown")
        ),
    };
    let excerpt = attempt["responseExcerpt"]
        .as_str()
        .filter(|e| !e.is_empty())
        .map(|e| format!(" {e:?}"))
        .unwrap_or_default();
    let status = delivery["status"].as_str().unwrap_or("?").to_lowercase();
    format!("webhook {event} {id} → {answer}{excerpt} ({status})")
}
