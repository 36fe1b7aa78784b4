//! Finished sign-in material is deleted by the services' background job once past its retention:
//! ten thousand rows of it (what a burst of sign-ins, challenges, letters and OAuth flows leaves)
//! go, while sessions, codes and tokens still in use, and finished ones inside the retention,
//! stay. Fails on the previous main, where these tables only grew.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, EntityTrait, Set, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

const TABLES: [&str; 5] = [
    "refresh_tokens",
    "second_factor_challenges",
    "email_tokens",
    "oauth_codes",
    "oauth_refresh_tokens",
];

async fn count(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    db.query_one(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT COUNT(*) AS n FROM {table}"),
    ))
    .await
    .expect("count")
    .and_then(|row| row.try_get::<i64>("", "n").ok())
    .unwrap_or(-1)
}

async fn counts(db: &sea_orm::DatabaseConnection) -> Vec<i64> {
    let mut all = Vec::new();
    for table in TABLES {
        all.push(count(db, table).await);
    }
    all
}

/// `n` rows of each kind, finished `age` ago (expired, or used, that long ago); how many were
/// written (the retention job may already be deleting them, so counting the tables afterwards
/// would race it).
async fn finished(
    db: &sea_orm::DatabaseConnection,
    user: Uuid,
    n: [usize; 5],
    age: chrono::Duration,
) -> u64 {
    let mut written = 0;
    use nexus_apps::entity::{oauth_code, oauth_refresh_token};
    use nexus_identity::entity::{email_token, refresh_token, second_factor_challenge};
    let then = Utc::now() - age;
    let hash = || nexus_kit::secrets::sha256_hex(&Uuid::new_v4().to_string());
    for chunk in (0..n[0]).collect::<Vec<_>>().chunks(400) {
        refresh_token::Entity::insert_many(chunk.iter().map(|_| refresh_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            family_id: Set(Uuid::now_v7()),
            organization_id: Set(None),
            token_hash: Set(hash()),
            expires_at: Set(then),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(then - chrono::Duration::days(30)),
            user_agent: Set(None),
            address: Set(None),
            two_factor: Set(false),
        }))
        .exec_without_returning(db)
        .await
        .map(|n| written += n)
        .expect("refresh tokens");
    }
    for chunk in (0..n[1]).collect::<Vec<_>>().chunks(400) {
        second_factor_challenge::Entity::insert_many(chunk.iter().map(|_| {
            second_factor_challenge::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(user),
                token_hash: Set(hash()),
                failures: Set(0),
                expires_at: Set(Utc::now() + chrono::Duration::minutes(5)),
                used_at: Set(Some(then)),
                user_agent: Set(None),
                address: Set(None),
                created_at: Set(then),
            }
        }))
        .exec_without_returning(db)
        .await
        .map(|n| written += n)
        .expect("challenges");
    }
    for chunk in (0..n[2]).collect::<Vec<_>>().chunks(400) {
        email_token::Entity::insert_many(chunk.iter().map(|_| email_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            purpose: Set(email_token::Purpose::ResetPassword),
            email: Set("ada@acme.test".into()),
            token_hash: Set(hash()),
            expires_at: Set(then),
            used_at: Set(None),
            created_at: Set(then - chrono::Duration::hours(1)),
        }))
        .exec_without_returning(db)
        .await
        .map(|n| written += n)
        .expect("mail tokens");
    }
    for chunk in (0..n[3]).collect::<Vec<_>>().chunks(400) {
        oauth_code::Entity::insert_many(chunk.iter().map(|_| oauth_code::ActiveModel {
            code_hash: Set(hash()),
            authorization_id: Set(Uuid::now_v7()),
            redirect_uri: Set("https://app.example/callback".into()),
            scopes: Set(json!(["openid"])),
            code_challenge: Set("x".repeat(43)),
            nonce: Set(None),
            auth_time: Set(then),
            two_factor: Set(false),
            session_epoch: Set(0),
            expires_at: Set(Utc::now() + chrono::Duration::minutes(10)),
            used_at: Set(Some(then)),
            grant_id: Set(None),
            created_at: Set(then),
        }))
        .exec_without_returning(db)
        .await
        .map(|n| written += n)
        .expect("codes");
    }
    for chunk in (0..n[4]).collect::<Vec<_>>().chunks(400) {
        oauth_refresh_token::Entity::insert_many(chunk.iter().map(|_| {
            oauth_refresh_token::ActiveModel {
                id: Set(Uuid::now_v7()),
                grant_id: Set(Uuid::now_v7()),
                token_hash: Set(hash()),
                expires_at: Set(then),
                used_at: Set(Some(then - chrono::Duration::days(1))),
                created_at: Set(then - chrono::Duration::days(30)),
            }
        }))
        .exec_without_returning(db)
        .await
        .map(|n| written += n)
        .expect("OAuth refresh tokens");
    }
    written
}

#[tokio::test]
async fn finished_sign_in_material_is_deleted_after_its_retention() {
    let stack = TestStack::start_configured(|config, _| {
        config.retention.days = 7;
        config.retention.interval_seconds = 1;
    })
    .await;
    let db = sea_orm::Database::connect(stack.db.url())
        .await
        .expect("connect");
    let ada = stack.sign_up("ada@acme.test", "Ada").await;
    let user = Uuid::parse_str(&ada.user_id).expect("a user id");
    let live = counts(&db).await;

    // Inside the retention (finished an hour ago): kept. Past it (eight days): ten thousand rows.
    let kept = finished(&db, user, [5, 5, 5, 5, 5], chrono::Duration::hours(1)).await;
    let old = finished(
        &db,
        user,
        [3000, 2000, 2000, 2000, 1000],
        chrono::Duration::days(8),
    )
    .await;
    assert_eq!(kept + old, 10_025);

    let expected: Vec<i64> = live.iter().map(|n| n + 5).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = counts(&db).await;
        if now == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not pruned to {expected:?} within a minute: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The session in use still refreshes.
    let refreshed = stack
        .gql(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({ "t": ada.refresh }),
        )
        .await;
    assert!(
        refreshed["data"]["refreshSession"]["accessToken"].is_string(),
        "{refreshed}"
    );
    stack.stop().await;
}
