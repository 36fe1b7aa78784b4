//! `--suite webhooks`: deliveries per second to a receiver on loopback, with one worker and with
//! four (PostgreSQL; SQLite has one writer, so one worker), and how long an event waits from its
//! commit to its first attempt when the system is idle.
//!
//! Each scenario gets a fresh database with `apps` published apps subscribed to `webhook.test`,
//! records its events through the outbox (as the services do), starts its workers, and counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

/// What the receiver saw: per `webhook-id`, when it first arrived and the event's commit time.
#[derive(Default)]
struct Seen {
    first: HashMap<String, (Instant, i64)>,
    requests: usize,
}

struct Receiver {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    async fn start() -> anyhow::Result<Receiver> {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let shared = seen.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let app = axum::Router::new().route(
            "/hooks/{app}",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let seen = shared.clone();
                async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let committed = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|b| b["data"]["committed_us"].as_i64())
                        .unwrap_or_default();
                    if let Ok(mut seen) = seen.lock() {
                        seen.requests += 1;
                        seen.first.entry(id).or_insert((Instant::now(), committed));
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { port, seen })
    }

    fn distinct(&self) -> usize {
        self.seen.lock().map(|s| s.first.len()).unwrap_or(0)
    }

    fn reset(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Seen::default();
        }
    }
}

/// A fresh database with `count` published apps whose live versions subscribe to `webhook.test`
/// at the receiver; returns the connection and the apps.
async fn database(
    url: &str,
    receiver: &Receiver,
    count: usize,
) -> anyhow::Result<(DatabaseConnection, Vec<Uuid>)> {
    let (db, _) = nexus::stack::connect_and_migrate(url).await?;
    let names: Vec<String> = (0..count).map(|i| format!("hooks{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let apps = nexus::seed::published_apps(&db, &names).await?;
    let developer = Uuid::now_v7();
    for (i, app) in apps.iter().enumerate() {
        nexus_apps::entity::app_version::ActiveModel {
            id: Set(Uuid::now_v7()),
            app_id: Set(*app),
            version: Set("1.0.0".into()),
            manifest: Set(json!({ "webhooks": {
                "endpoint": format!("http://127.0.0.1:{}/hooks/{i}", receiver.port),
                "events": ["app.installed"] } })),
            subgraph_url: Set("http://127.0.0.1:9/graphql".into()),
            sdl: Set(None),
            status: Set(nexus_apps::entity::app_version::AppVersionStatus::Approved),
            errors: Set(json!([])),
            submitted_by: Set(developer),
            reviewed_by: Set(None),
            review_reason: Set(None),
            created_at: Set(Utc::now()),
            reviewed_at: Set(None),
        }
        .insert(&db)
        .await
        .context("an approved version")?;
    }
    Ok((db, apps))
}

/// `count` test events, spread over `apps`, committed in transactions of 500.
async fn record(db: &DatabaseConnection, apps: &[Uuid], count: usize) -> anyhow::Result<()> {
    for start in (0..count).step_by(500) {
        let txn = db.begin().await?;
        for n in start..(start + 500).min(count) {
            let event = nexus_kit::outbox::Event::new(
                "webhook.test",
                json!({ "n": n, "committed_us": Utc::now().timestamp_micros() }),
            )
            .for_app(apps[n % apps.len()]);
            nexus_kit::outbox::record(&txn, "bench", event).await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

fn settings() -> nexus_apps::webhooks::Settings {
    nexus_apps::webhooks::Settings {
        allow_private: true,
        ..Default::default()
    }
}

async fn workers(
    url: &str,
    keys: &Arc<nexus_kit::token::KeyStore>,
    count: usize,
) -> anyhow::Result<Vec<nexus_apps::webhooks::Worker>> {
    let mut started = Vec::new();
    for _ in 0..count {
        // Each its own connections, as separate processes would have.
        let (db, _) = nexus::stack::connect(url).await?;
        let secrets = nexus_kit::secret_box::SecretBox::open_or_create(
            &keys.path().with_file_name("secret-keys.json"),
        )?;
        started.push(nexus_apps::webhooks::spawn(
            db,
            keys.clone(),
            secrets,
            settings(),
        )?);
    }
    Ok(started)
}

async fn until(receiver: &Receiver, count: usize, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while receiver.distinct() < count {
        if started.elapsed() > limit {
            anyhow::bail!(
                "only {} of {count} delivered in {limit:?}",
                receiver.distinct()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(started.elapsed())
}

/// A database URL for one scenario: a new SQLite file, or a new database on the PostgreSQL
/// server at `postgres` (dropped by the caller's cleanup list).
async fn fresh_url(
    postgres: Option<&str>,
    dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<String> {
    match postgres {
        None => Ok(format!(
            "sqlite://{}",
            dir.join(format!("{name}.db")).display()
        )),
        Some(server) => {
            let server = server.trim_end_matches('/');
            let database = format!("nexus_bench_{name}_{}", Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(format!("{server}/postgres")).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {database}"))
                .await?;
            admin.close().await?;
            Ok(format!("{server}/{database}"))
        }
    }
}

pub async fn run(postgres: Option<&str>, events: usize, apps: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let receiver = Receiver::start().await?;
    let keys = nexus_kit::token::KeyStore::open_or_create(
        &dir.path().join("signing-keys.json"),
        "http://127.0.0.1:4000",
    )?;
    let mut scenarios: Vec<(&str, Option<&str>, usize)> = vec![("SQLite", None, 1)];
    match postgres {
        Some(server) => {
            scenarios.push(("PostgreSQL", Some(server), 1));
            scenarios.push(("PostgreSQL", Some(server), 4));
        }
        None => eprintln!("no --postgres-url: the PostgreSQL scenarios are left out"),
    }
    println!("| database | workers | events | delivered in | deliveries/s | requests |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut latency_url = None;
    for (i, (backend, server, count)) in scenarios.iter().enumerate() {
        let url = fresh_url(*server, dir.path(), &format!("throughput{i}")).await?;
        let (db, app_ids) = database(&url, &receiver, apps).await?;
        receiver.reset();
        // Recorded first, then delivered: the throughput of draining a backlog.
        record(&db, &app_ids, events).await?;
        let running = workers(&url, &keys, *count).await?;
        let took = until(&receiver, events, Duration::from_secs(600)).await?;
        let requests = receiver.seen.lock().map(|s| s.requests).unwrap_or(0);
        drop(running);
        println!(
            "| {backend} | {count} | {events} | {:.2} s | {:.0} | {requests} |",
            took.as_secs_f64(),
            events as f64 / took.as_secs_f64()
        );
        if latency_url.is_none() || server.is_some() {
            latency_url = Some((backend.to_string(), url.clone(), app_ids));
        }
        db.close().await?;
    }

    // Commit to first attempt, one event every 10 ms, one worker, idle otherwise.
    if let Some((backend, url, app_ids)) = latency_url {
        let (db, _) = nexus::stack::connect(&url).await?;
        receiver.reset();
        let _worker = workers(&url, &keys, 1).await?;
        let samples = 300;
        for n in 0..samples {
            record(&db, &app_ids[..1], 1).await?;
            let _ = n;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        until(&receiver, samples, Duration::from_secs(60)).await?;
        let now_us = Utc::now().timestamp_micros();
        let now = Instant::now();
        let mut waits: Vec<Duration> = receiver
            .seen
            .lock()
            .map(|s| {
                s.first
                    .values()
                    .map(|(at, committed)| {
                        let arrived_us = now_us - now.duration_since(*at).as_micros() as i64;
                        Duration::from_micros((arrived_us - committed).max(0) as u64)
                    })
                    .collect()
            })
            .unwrap_or_default();
        waits.sort();
        let at = |p: f64| waits[((waits.len() as f64 * p) as usize).min(waits.len() - 1)];
        println!(
            "\ncommit to first attempt ({backend}, 1 worker, an event every 10 ms, {samples} events): \
             p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            at(0.50).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            waits.last().map_or(0.0, |w| w.as_secs_f64() * 1e3)
        );
        db.close().await?;
    }
    Ok(())
}
