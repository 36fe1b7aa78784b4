//! Periodic health checks of the live apps: `GET {origin}{health_check}` from the manifest, or a
//! `{ __typename }` query to the subgraph when the manifest names no health path.

use std::time::{Duration, Instant};

use chrono::Utc;
use nexus_registry::Registry;
use nexus_registry::registry::AppHealth;
use nexus_registry::sdl_fetch::is_public;
use sea_orm::DatabaseConnection;

use crate::versions::live_apps;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks every live app once and records the results in `registry.health`.
pub async fn check_all(db: &DatabaseConnection, registry: &Registry) {
    let Ok(apps) = live_apps(db).await else {
        return;
    };
    let client = match reqwest::Client::builder()
        .timeout(CHECK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(_) => return,
    };
    for (version, subgraph) in apps {
        let path = version.manifest["health_check"].as_str().map(str::to_owned);
        let health = check(
            &client,
            &subgraph.routing_url,
            path.as_deref(),
            registry.fetch.allow_private,
        )
        .await;
        if let Ok(mut map) = registry.health.write() {
            map.insert(subgraph.name, health);
        }
    }
}

async fn check(
    client: &reqwest::Client,
    subgraph_url: &str,
    path: Option<&str>,
    allow_private: bool,
) -> AppHealth {
    let started = Instant::now();
    let result = probe(client, subgraph_url, path, allow_private).await;
    AppHealth {
        up: result.is_ok(),
        checked_at: Utc::now(),
        latency_ms: started.elapsed().as_millis() as u64,
        detail: result.err(),
    }
}

async fn probe(
    client: &reqwest::Client,
    subgraph_url: &str,
    path: Option<&str>,
    allow_private: bool,
) -> Result<(), String> {
    let url = url::Url::parse(subgraph_url).map_err(|e| e.to_string())?;
    if !allow_private
        && let Some(host) = url.host_str()
        && let Ok(ip) = host.trim_matches(['[', ']']).parse()
        && !is_public(ip)
    {
        return Err("private address".into());
    }
    let response = match path {
        Some(path) => {
            let mut health = url.clone();
            health.set_path(path);
            health.set_query(None);
            client.get(health).send().await
        }
        None => {
            client
                .post(url)
                .json(&serde_json::json!({ "query": "{ __typename }" }))
                .send()
                .await
        }
    }
    .map_err(|e| {
        if e.is_timeout() {
            "timed out".to_owned()
        } else {
            format!("unreachable: {e}")
        }
    })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status()))
    }
}

/// Checks every `interval`, forever (the task ends with the process).
pub fn spawn_checker(
    db: DatabaseConnection,
    registry: std::sync::Arc<Registry>,
    interval: Duration,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            check_all(&db, &registry).await;
        }
    });
}
