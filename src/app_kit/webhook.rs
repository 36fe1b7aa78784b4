//! `nexus app webhook trigger EVENT`, in the directory of an app `nexus app dev` serves: the
//! platform sends the app that event for its development installation, exactly as it sends real
//! ones (signatures, payload shape, retries), and the app's answer is shown.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::json;

use super::dev::platform::{Platform, Session};

/// How long to wait for the first attempt (the worker takes deliveries about every second).
const PATIENCE: Duration = Duration::from_secs(60);

/// Sends `event`; `Ok(true)` when the app answered 2xx.
pub async fn trigger(dir: &Path, event: &str) -> anyhow::Result<bool> {
    let (namespace, state) = super::dev::app_in(dir)?;
    let session = Session::read(&state)?;
    let platform = Platform::connect(&session.graph, &state, &session.identity, &namespace).await?;
    let sent = platform
        .data(
            "mutation($inst: ID!, $event: String!) { triggerWebhook(installationId: $inst, eventType: $event) { id webhookId } }",
            json!({ "inst": session.installation_id, "event": event }),
        )
        .await?;
    let id = sent["triggerWebhook"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the platform answered no delivery"))?
        .to_owned();
    println!(
        "sent {event} ({})",
        sent["triggerWebhook"]["webhookId"].as_str().unwrap_or("?")
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let recent = super::dev::deliveries::recent(&platform, &session.app_id).await?;
        if let Some(delivery) = recent.iter().find(|d| d["id"] == id.as_str())
            && let Some(attempt) = delivery["attempts"].as_array().and_then(|a| a.first())
        {
            println!("{}", super::dev::deliveries::describe(delivery, attempt));
            let ok = attempt["statusCode"]
                .as_i64()
                .is_some_and(|s| (200..300).contains(&s));
            if !ok {
                println!(
                    "  the platform retries it as it would any delivery (see `nexus app dev`)"
                );
            }
            return Ok(ok);
        }
        if Instant::now() > deadline {
            bail!("no attempt to deliver within {} s", PATIENCE.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
