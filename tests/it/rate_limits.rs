//! Rate limits through the real router: budgets per caller weighted by each operation's cost,
//! the IETF `RateLimit` headers, `Retry-After`, addresses that only trusted proxies may vouch for,
//! logins that cannot be used to lock someone out, and the same buckets shared by two platforms
//! through Redis (`NEXUS_TEST_REDIS`; every test here runs on the in-memory store as well).

use std::net::IpAddr;

use nexus::config::Config;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestStack, error_codes, use_router_yaml};

const BUDGETS: &str = "plugins:
  nexus.rate_limit:
    user: { capacity: 10, per_seconds: 60 }
    anonymous: { capacity: 10, per_seconds: 60 }
";

/// A client whose connections come from `address` (loopback has all of 127.0.0.0/8).
fn client_from(address: &str) -> reqwest::Client {
    let address: IpAddr = address.parse().expect("address");
    reqwest::Client::builder()
        .local_address(address)
        .build()
        .expect("client")
}

/// POSTs `query` from `client` (with `headers`); returns (status, RateLimit-Policy, RateLimit,
/// Retry-After, body).
async fn post(
    stack: &TestStack,
    client: &reqwest::Client,
    token: Option<&str>,
    headers: &[(&str, &str)],
    query: &str,
) -> (u16, String, String, Option<String>, Value) {
    let mut request = client
        .post(stack.stack.graphql_url())
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answered");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (policy, state, retry) = (
        header("ratelimit-policy").unwrap_or_default(),
        header("ratelimit").unwrap_or_default(),
        header("retry-after"),
    );
    let status = response.status().as_u16();
    let body = response.json().await.expect("JSON");
    (status, policy, state, retry, body)
}

fn redis_url() -> Option<String> {
    std::env::var("NEXUS_TEST_REDIS").ok()
}

/// Configures `config` for Redis (when the tests have one) under a key prefix of its own.
fn with_store(config: &mut Config, redis: Option<&str>, prefix: &str) {
    config.redis_url = redis.map(str::to_owned);
    config.redis_key_prefix = prefix.to_owned();
}

async fn budgets_stack(redis: Option<&str>, prefix: &str, trusted: &[&str]) -> TestStack {
    let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
    let prefix = prefix.to_owned();
    let redis = redis.map(str::to_owned);
    TestStack::start_configured(move |config, dir| {
        use_router_yaml(config, dir, BUDGETS);
        config.router.trusted_proxies = trusted;
        with_store(config, redis.as_deref(), &prefix);
    })
    .await
}

async fn budgets_are_charged_by_cost_and_answer_with_headers(redis: Option<&str>) {
    let prefix = format!("test-{}", uuid::Uuid::new_v4());
    let stack = budgets_stack(redis, &prefix, &[]).await;
    // Anonymous: ten from this address, then 429 with the headers that say when.
    let anonymous = client_from("127.0.0.2");
    for remaining in (0..10).rev() {
        let (status, policy, state, _, body) =
            post(&stack, &anonymous, None, &[], "{ __typename }").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(policy, "\"anonymous\";q=10;w=60");
        assert!(
            state.starts_with(&format!("\"anonymous\";r={remaining};t=")),
            "{state}"
        );
    }
    let (status, policy, _, retry, body) =
        post(&stack, &anonymous, None, &[], "{ __typename }").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(policy, "\"anonymous\";q=10;w=60");
    assert_eq!(error_codes(&body), vec!["RATE_LIMITED"]);
    let retry: u64 = retry.and_then(|r| r.parse().ok()).expect("Retry-After");
    assert!((4..=6).contains(&retry), "one unit refills in 6 s: {retry}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"], retry);
    // Writing X-Forwarded-For does not buy another budget: nobody is a trusted proxy.
    let (status, ..) = post(
        &stack,
        &anonymous,
        None,
        &[("x-forwarded-for", "203.0.113.77")],
        "{ __typename }",
    )
    .await;
    assert_eq!(status, 429);
    // Another address has its own budget.
    let (status, ..) = post(
        &stack,
        &client_from("127.0.0.3"),
        None,
        &[],
        "{ __typename }",
    )
    .await;
    assert_eq!(status, 200);

    // A user: each operation costs what it may load.
    // (Signing up is anonymous, from 127.0.0.1: the user's budget starts full.)
    let ada = stack.sign_up("ada@rate.test", "Ada").await;
    let client = reqwest::Client::new();
    let costly = "{ me { memberships(first: 3) { nodes { role } } } }"; // 1 + 3 × 2 = 7
    let (status, policy, state, ..) = post(&stack, &client, Some(&ada.access), &[], costly).await;
    assert_eq!(status, 200);
    assert_eq!(policy, "\"user\";q=10;w=60");
    assert!(state.starts_with("\"user\";r=3;"), "{state}");
    let (status, _, _, _, body) = post(&stack, &client, Some(&ada.access), &[], costly).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("this operation costs 7")),
        "{body}"
    );
    let (status, _, state, ..) =
        post(&stack, &client, Some(&ada.access), &[], "{ me { name } }").await;
    assert_eq!(status, 200, "a cheaper operation still fits");
    assert!(state.starts_with("\"user\";r=2;"), "{state}");
    // Another user is not affected.
    let bob = stack.sign_up("bob@rate.test", "Bob").await;
    let (status, ..) = post(&stack, &client, Some(&bob.access), &[], costly).await;
    assert_eq!(status, 200);
    stack.stop().await;
}

#[tokio::test]
async fn budgets_are_charged_by_cost_and_answer_with_headers_in_memory() {
    budgets_are_charged_by_cost_and_answer_with_headers(None).await;
}

#[tokio::test]
async fn budgets_are_charged_by_cost_and_answer_with_headers_in_redis() {
    let Some(redis) = redis_url() else {
        eprintln!("NEXUS_TEST_REDIS is not set: the Redis store is not tested");
        return;
    };
    budgets_are_charged_by_cost_and_answer_with_headers(Some(&redis)).await;
}

#[tokio::test]
async fn only_trusted_proxies_may_say_who_the_client_is() {
    // 127.0.0.4 is the operator's proxy; 127.0.0.5 is not.
    let stack = budgets_stack(None, "trusted", &["127.0.0.4"]).await;
    let proxy = client_from("127.0.0.4");
    // Behind the proxy, each client has its own budget: the right-most untrusted entry counts,
    // whatever the client wrote to the left of it.
    for _ in 0..10 {
        let (status, ..) = post(
            &stack,
            &proxy,
            None,
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.1")],
            "{ __typename }",
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, ..) = post(
        &stack,
        &proxy,
        None,
        &[("x-forwarded-for", "7.7.7.7, 198.51.100.1")],
        "{ __typename }",
    )
    .await;
    assert_eq!(
        status, 429,
        "the same client behind the proxy, another forged prefix"
    );
    let (status, ..) = post(
        &stack,
        &proxy,
        None,
        &[("x-forwarded-for", "198.51.100.2")],
        "{ __typename }",
    )
    .await;
    assert_eq!(status, 200, "another client behind the proxy");
    // An untrusted peer's header is ignored: it is counted as itself.
    let direct = client_from("127.0.0.5");
    for i in 0..10 {
        let forged = format!("198.51.100.{}", 10 + i);
        let (status, ..) = post(
            &stack,
            &direct,
            None,
            &[("x-forwarded-for", &forged)],
            "{ __typename }",
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, ..) = post(
        &stack,
        &direct,
        None,
        &[("x-forwarded-for", "198.51.100.6")],
        "{ __typename }",
    )
    .await;
    assert_eq!(status, 429);
    stack.stop().await;
}

const LOG_IN: &str = "mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }";

async fn log_in_from(stack: &TestStack, client: &reqwest::Client, password: &str) -> Value {
    let response = client
        .post(stack.stack.graphql_url())
        .json(&json!({ "query": LOG_IN, "variables": { "i": { "email": "ada@flood.test", "password": password } } }))
        .send()
        .await
        .expect("answered");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_from_one_address_does_not_lock_the_owner_out() {
    let stack = TestStack::start().await;
    stack.sign_up("ada@flood.test", "Ada").await;
    let attacker = client_from("127.0.0.6");
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.extend(error_codes(
            &log_in_from(&stack, &attacker, "wrong password 1").await,
        ));
    }
    assert_eq!(codes[..5], ["UNAUTHENTICATED"; 5], "{codes:?}");
    assert_eq!(codes[5..], ["RATE_LIMITED"; 3], "{codes:?}");
    // The right password from the attacker's address is refused too (it never gets checked)...
    let body = log_in_from(&stack, &attacker, PASSWORD).await;
    assert_eq!(error_codes(&body), vec!["RATE_LIMITED"]);
    // ...but the owner, from another address, signs in.
    let body = log_in_from(&stack, &client_from("127.0.0.7"), PASSWORD).await;
    assert!(body["data"]["logIn"]["accessToken"].is_string(), "{body}");
    stack.stop().await;
}

#[tokio::test]
async fn sign_ups_are_limited_per_address() {
    let stack = TestStack::start().await;
    let client = client_from("127.0.0.8");
    let sign_up = "mutation($i: SignUpInput!) { signUp(input: $i) { user { id } } }";
    let mut codes = Vec::new();
    for i in 0..11 {
        let response = client
            .post(stack.stack.graphql_url())
            .json(&json!({ "query": sign_up, "variables": { "i": {
                "email": format!("u{i}@signup.test"), "password": PASSWORD, "name": "U" } } }))
            .send()
            .await
            .expect("answered");
        let body: Value = response.json().await.expect("JSON");
        codes.push(
            error_codes(&body)
                .first()
                .cloned()
                .unwrap_or_else(|| "OK".into()),
        );
    }
    assert_eq!(codes[..10], ["OK"; 10], "{codes:?}");
    assert_eq!(codes[10], "RATE_LIMITED");
    stack.stop().await;
}

#[tokio::test]
async fn two_platforms_on_one_redis_share_the_budget_and_a_dead_redis_follows_the_policy() {
    if let Some(redis) = redis_url() {
        // Two replicas: the budget of one address is spent across both.
        let prefix = format!("test-{}", uuid::Uuid::new_v4());
        let first = budgets_stack(Some(&redis), &prefix, &[]).await;
        let second = budgets_stack(Some(&redis), &prefix, &[]).await;
        let client = client_from("127.0.0.9");
        for i in 0..10 {
            let stack = if i % 2 == 0 { &first } else { &second };
            let (status, ..) = post(stack, &client, None, &[], "{ __typename }").await;
            assert_eq!(status, 200);
        }
        let (status, ..) = post(&second, &client, None, &[], "{ __typename }").await;
        assert_eq!(status, 429, "the eleventh request, on either replica");
        first.stop().await;
        second.stop().await;
    } else {
        eprintln!("NEXUS_TEST_REDIS is not set: sharing through Redis is not tested");
    }
    // Nothing listens on port 1: the store fails, and the policy decides.
    for (policy, expected) in [("allow", 200), ("refuse", 429)] {
        let stack = TestStack::start_configured(|config, _| {
            config.redis_url = Some("redis://127.0.0.1:1/".into());
            config.redis_on_error = match policy {
                "allow" => nexus_protocol::rate_limit::OnStoreError::Allow,
                _ => nexus_protocol::rate_limit::OnStoreError::Refuse,
            };
        })
        .await;
        let (status, _, _, _, body) =
            post(&stack, &reqwest::Client::new(), None, &[], "{ __typename }").await;
        assert_eq!(status, expected, "{policy}: {body}");
        stack.stop().await;
    }
}
