//! Secrets the platform reads back (authenticator seeds, webhook signing secrets) are stored
//! encrypted, bound to their row; `nexus secrets rotate` and `reencrypt` move them to a new key
//! while the running platform keeps signing people in and signing deliveries. Fails on the
//! previous main, which stored both as they are.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::common::*;
use crate::two_factor::{challenge, turn_on_two_factor, verify};
use crate::webhooks::world_on;

async fn stored(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("read the stored secrets")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a text column"))
        .collect()
}

/// Sends a test event and checks its `v1` signature with `secret`.
async fn delivery_verifies_with(world: &crate::webhooks::World, secret: &str) {
    let before = world.receiver.received().len();
    world
        .stack
        .data_as(
            &world.developer.access,
            "mutation($app: ID!) { sendTestWebhook(appId: $app) { id } }",
            json!({ "app": world.app_id }),
        )
        .await;
    let received = world
        .receiver
        .wait_for(before + 1, Duration::from_secs(15))
        .await;
    let last = received.last().expect("a delivery");
    let timestamp: i64 = last
        .header("webhook-timestamp")
        .parse()
        .expect("a timestamp");
    assert!(
        nexus_protocol::webhook_signature::verify_hmac(
            secret,
            last.header("webhook-id"),
            timestamp,
            &last.body,
            last.header("webhook-signature"),
            chrono::Utc::now().timestamp(),
        ),
        "{}",
        last.header("webhook-signature")
    );
}

#[tokio::test]
async fn stored_secrets_are_encrypted_and_move_to_a_new_key() {
    let world = world_on(TestStack::start().await, json!(["app.installed"])).await;
    let stack = &world.stack;
    let db = sea_orm::Database::connect(stack.db.url())
        .await
        .expect("connect");
    let ada = stack.sign_up("ada@acme.test", "Ada").await;
    let (authenticator, _) = turn_on_two_factor(stack, &ada).await;

    // At rest: sealed, the webhook secret nowhere in the row.
    let seeds = stored(&db, "SELECT secret FROM two_factors").await;
    let endpoints = stored(
        &db,
        "SELECT secret FROM webhook_endpoints UNION ALL SELECT previous_secret FROM webhook_endpoints WHERE previous_secret IS NOT NULL",
    )
    .await;
    assert_eq!(
        (seeds.len(), endpoints.len()),
        (1, 2),
        "{seeds:?} {endpoints:?}"
    );
    for value in seeds.iter().chain(&endpoints) {
        assert!(value.starts_with("enc:v1:"), "{value}");
        assert!(!value.contains(&world.secret[6..]), "{value}");
    }
    delivery_verifies_with(&world, &world.secret).await;

    // One stored before encryption (an upgrade) still signs.
    db.execute_unprepared(&format!(
        "UPDATE webhook_endpoints SET secret = '{}'",
        world.secret
    ))
    .await
    .expect("store it as before");
    tokio::time::sleep(Duration::from_millis(1100)).await; // the worker's 1 s endpoint cache
    delivery_verifies_with(&world, &world.secret).await;

    // A new key, and everything moved to it, while the platform runs on.
    let config = stack.dir.path().join("operator.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {:?}\nkeys_file = {:?}\n",
            stack.db.url(),
            stack.stack.keys.path().display().to_string()
        ),
    )
    .expect("write the configuration");
    let rotated = nexus(&config)
        .args(["secrets", "rotate"])
        .output()
        .await
        .expect("nexus secrets rotate");
    assert!(rotated.status.success(), "{rotated:?}");
    let said = String::from_utf8_lossy(&rotated.stdout).to_string();
    let kid = said.split('`').nth(1).expect("the new key's id").to_owned();
    let reencrypted = nexus(&config)
        .args(["secrets", "reencrypt"])
        .output()
        .await
        .expect("nexus secrets reencrypt");
    assert!(reencrypted.status.success(), "{reencrypted:?}");
    assert_eq!(
        String::from_utf8_lossy(&reencrypted.stdout).trim(),
        "re-encrypted 1 two-factor secrets and 1 webhook secrets with the newest key"
    );
    let all = [
        stored(&db, "SELECT secret FROM two_factors").await,
        stored(&db, "SELECT secret FROM webhook_endpoints").await,
        stored(&db, "SELECT previous_secret FROM webhook_endpoints").await,
    ]
    .concat();
    assert_eq!(all.len(), 3);
    let ada_seed = all[0].clone();
    assert!(
        all.iter().all(|v| v.starts_with(&format!("enc:v1:{kid}:"))),
        "{all:?}"
    );
    // Nothing left to do the second time.
    let again = nexus(&config)
        .args(["secrets", "reencrypt"])
        .output()
        .await
        .expect("nexus secrets reencrypt");
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("re-encrypted 0 two-factor secrets and 0 webhook secrets")
    );

    // The running platform reads the new key's values: a sign-in with a code, a delivery.
    let waiting = challenge(stack, "ada@acme.test").await;
    // (The current step's code confirmed the enrolment: each code works once.)
    let signed_in = verify(stack, &waiting, &authenticator.code(1)).await;
    assert!(
        signed_in["data"]["verifySecondFactor"]["accessToken"].is_string(),
        "{signed_in}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    delivery_verifies_with(&world, &world.secret).await;

    // A seed copied onto another account's row does not open there.
    let eve = stack.sign_up("eve@evil.test", "Eve").await;
    let _ = turn_on_two_factor(stack, &eve).await;
    db.execute_unprepared(&format!(
        "UPDATE two_factors SET secret = '{ada_seed}' WHERE secret <> '{ada_seed}'"
    ))
    .await
    .expect("copy the seed");
    let waiting = challenge(stack, "eve@evil.test").await;
    let refused = verify(stack, &waiting, &authenticator.code(0)).await;
    assert_eq!(
        error_codes(&refused),
        ["INTERNAL_SERVER_ERROR"],
        "{refused}"
    );
    assert!(first_error_message(&refused).contains("moved from another row"));
    world.stack.stop().await;
}
