//! Periodic health checks of the live apps: `GET {origin}{health_check}` from the manifest, or a
//! `{ __typename }` query to the subgraph when the manifest names no health path.

use std::time::{Duration, Instant};

use chrono::Utc;
use nexus_kit::outbound::{FetchPolicy, Outbound, OutboundError};
use nexus_registry::Registry;
use nexus_registry::registry::AppHealth;
use reqwest::Method;
use sea_orm::DatabaseConnection;

use crate::registry::live_set::live_apps;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks every live app once and records the results in `registry.health`.
pub async fn check_all(db: &DatabaseConnection, registry: &Registry) {
    let Ok(apps) = live_apps(db).await else {
        return;
    };
    let policy = FetchPolicy {
        timeout: CHECK_TIMEOUT,
        max_bytes: 64 * 1024,
        ..registry.fetch.clone()
    };
    let Ok(outbound) = Outbound::new(policy) else {
        return;
    };
    for (version, subgraph) in apps {
        let path = version.manifest["health_check"].as_str().map(str::to_owned);
        let health = check(&outbound, &subgraph.routing_url, path.as_deref()).await;
        if let Ok(mut map) = registry.health.write() {
            map.insert(subgraph.name, health);
        }
    }
}

async fn check(outbound: &Outbound, subgraph_url: &str, path: Option<&str>) -> AppHealth {
    let started = Instant::now();
    let result = probe(outbound, subgraph_url, path).await;
    AppHealth {
        up: result.is_ok(),
        checked_at: Utc::now(),
        latency_ms: started.elapsed().as_millis() as u64,
        detail: result.err(),
    }
}

async fn probe(outbound: &Outbound, subgraph_url: &str, path: Option<&str>) -> Result<(), String> {
    let request = match path {
        Some(path) => {
            let mut health = url::Url::parse(subgraph_url).map_err(|e| e.to_string())?;
            health.set_path(path);
            health.set_query(None);
            outbound.request(Method::GET, health.as_str())
        }
        None => outbound
            .request(Method::POST, subgraph_url)
            .map(|r| r.json(&serde_json::json!({ "query": "{ __typename }" }))),
    }
    .map_err(|e| e.to_string())?;
    let reply = outbound.send(request).await.map_err(|e| match e {
        OutboundError::Timeout(_) => "timed out".to_owned(),
        other => other.to_string(),
    })?;
    if reply.status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", reply.status))
    }
}

/// Checks every `interval`, forever (the task ends with the process).
pub fn spawn_checker(
    db: DatabaseConnection,
    registry: std::sync::Arc<Registry>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            check_all(&db, &registry).await;
        }
    })
}
