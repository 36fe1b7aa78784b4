//! Webhook workers as real `nexus serve apps` processes on one PostgreSQL: one killed (SIGKILL)
//! in the middle of a thousand deliveries loses none, and two side by side never both send one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;
use crate::webhooks::{World, world_on};

/// The distinct `webhook-id`s received, and whether any id came with two different bodies.
fn tally(received: &[Received]) -> (BTreeMap<String, usize>, bool) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let mut body: BTreeMap<String, &str> = BTreeMap::new();
    let mut differing = false;
    for r in received {
        let id = r.header("webhook-id").to_owned();
        *count.entry(id.clone()).or_default() += 1;
        if let Some(seen) = body.insert(id, &r.body) {
            differing |= seen != r.body;
        }
    }
    (count, differing)
}

async fn record_events(stack: &TestStack, app: uuid::Uuid, batch: std::ops::Range<usize>) {
    use sea_orm::TransactionTrait;
    let ns: Vec<usize> = batch.collect();
    for chunk in ns.chunks(100) {
        let txn = stack.stack.db.begin().await.expect("begin");
        for n in chunk {
            nexus_kit::outbox::record(
                &txn,
                "apps",
                nexus_kit::outbox::Event::new("webhook.test", json!({ "n": n })).for_app(app),
            )
            .await
            .expect("recorded");
        }
        txn.commit().await.expect("commit");
    }
}

async fn until_distinct(receiver: &Receiver, count: usize, within: Duration) -> Vec<Received> {
    let deadline = Instant::now() + within;
    loop {
        let received = receiver.received();
        if tally(&received).0.len() >= count || Instant::now() > deadline {
            return received;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_killed_worker_loses_no_event_and_two_workers_never_send_one_delivery_twice() {
    let stack = TestStack::start_configured(|config, _| config.webhooks.deliver = false).await;
    if stack.db.backend() != "postgres" {
        println!("skipped: several workers need PostgreSQL (set {POSTGRES_ENV})");
        return;
    }
    let World {
        stack,
        receiver,
        app_id,
        ..
    } = world_on(stack, json!(["app.installed"])).await;
    receiver.slow_down(Duration::from_millis(5));
    let app = uuid::Uuid::parse_str(&app_id).expect("uuid");
    let workers = |n: usize| {
        let path = stack.dir.path().join(format!("worker-{n}.toml"));
        std::fs::write(
            &path,
            format!(
                "database_url = {url:?}\nkeys_file = {keys:?}\nissuer = {issuer:?}\nallow_private_apps = true\n\n\
                 [apps]\nlisten = \"127.0.0.1:{port}\"\nurl = \"http://127.0.0.1:{port}\"\n\n\
                 [webhooks]\ntimeout_seconds = 2\nretry_schedule_seconds = [1, 1, 1]\n",
                url = stack.db.url(),
                keys = stack.stack.keys.path().display().to_string(),
                issuer = stack.stack.keys.issuer(),
                port = free_port(),
            ),
        )
        .expect("write the configuration");
        path
    };

    // A thousand events; the worker is killed part-way through delivering them.
    let started = Instant::now();
    let first = workers(1);
    let (mut worker, _) = serve(&first, "apps", "apps subgraph listening: ").await;
    record_events(&stack, app, 0..1000).await;
    until_distinct(&receiver, 200, Duration::from_secs(60)).await;
    worker.start_kill().expect("SIGKILL");
    worker.wait().await.expect("killed");
    let at_kill = tally(&receiver.received()).0.len();
    println!(
        "{at_kill} delivered when killed, {:?} in",
        started.elapsed()
    );
    assert!(at_kill < 1000, "killed mid-delivery ({at_kill} delivered)");

    // Restarted (two of them now): every event arrives; a repeat is the same delivery again.
    let (mut a, _) = serve(&first, "apps", "apps subgraph listening: ").await;
    let (mut b, _) = serve(&workers(2), "apps", "apps subgraph listening: ").await;
    let received = until_distinct(&receiver, 1000, Duration::from_secs(120)).await;
    let (count, differing) = tally(&received);
    assert_eq!(count.len(), 1000, "every committed event delivered");
    assert!(!differing, "a webhook-id always carries the same body");
    let numbers: BTreeSet<i64> = received
        .iter()
        .filter_map(|r| r.json()["data"]["n"].as_i64())
        .collect();
    assert_eq!(numbers.len(), 1000);
    let repeated = count.values().filter(|c| **c > 1).count();
    println!("1000 delivered at {:?}", started.elapsed());
    println!("after the kill at {at_kill}: {repeated} deliveries sent again (same webhook-id)");

    // Two workers side by side, nothing killed: no delivery is sent twice.
    record_events(&stack, app, 1000..2000).await;
    let received = until_distinct(&receiver, 2000, Duration::from_secs(120)).await;
    let second: Vec<Received> = received
        .into_iter()
        .filter(|r| r.json()["data"]["n"].as_i64() >= Some(1000))
        .collect();
    let (count, _) = tally(&second);
    println!("2000 delivered at {:?}", started.elapsed());
    assert_eq!(
        count.len(),
        1000,
        "every event of the second thousand delivered"
    );
    let twice: Vec<_> = count.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "sent twice by two workers: {twice:?}");
    for worker in [&mut a, &mut b] {
        worker.start_kill().expect("stop");
        worker.wait().await.expect("stopped");
    }
    stack.stop().await;
}
