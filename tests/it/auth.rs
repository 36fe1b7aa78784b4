//! Accounts and tokens through the router: sign-up, login, refresh rotation and reuse, logout,
//! rate limits, every kind of bad token, the last-owner rule, API keys, JWKS and key rotation.

use std::time::{Duration, Instant};

use crate::common::{PASSWORD, TestStack, error_codes, first_error_message, post_graphql};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_kit::token::{KeyStore, TokenType, new_claims};
use serde_json::{Value, json};

const LOG_IN: &str = "mutation($email: String!, $password: String!) { \
    logIn(input: {email: $email, password: $password}) { accessToken refreshToken } }";
const REFRESH: &str =
    "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";

async fn log_in_body(stack: &TestStack, email: &str, password: &str) -> Value {
    stack
        .gql(LOG_IN, json!({ "email": email, "password": password }))
        .await
}

#[tokio::test]
async fn sign_up_log_in_and_me() {
    let stack = TestStack::start().await;
    let session = stack.sign_up("  Ada@Example.COM ", "Ada").await;
    assert!(!session.access.is_empty() && !session.refresh.is_empty());
    let data = stack
        .data_as(
            &session.access,
            "{ me { email name isPlatformAdmin } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["me"],
        json!({ "email": "ada@example.com", "name": "Ada", "isPlatformAdmin": false })
    );

    // The password policy says everything that is missing at once.
    let body = stack
        .gql(
            "mutation { signUp(input: {email: \"b@example.com\", password: \"short\", name: \"B\"}) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(
        first_error_message(&body),
        "the password needs at least 10 characters (it has 5), a digit or a symbol"
    );

    // Unknown email and wrong password: same code, same message.
    let wrong = log_in_body(&stack, "ada@example.com", "not the password 1").await;
    let unknown = log_in_body(&stack, "nobody@example.com", "not the password 1").await;
    assert_eq!(error_codes(&wrong), ["UNAUTHENTICATED"]);
    assert_eq!(error_codes(&unknown), ["UNAUTHENTICATED"]);
    assert_eq!(first_error_message(&wrong), "wrong email or password");
    assert_eq!(first_error_message(&wrong), first_error_message(&unknown));
    let ok = log_in_body(&stack, "ADA@example.com", PASSWORD).await;
    assert!(ok["data"]["logIn"]["accessToken"].is_string(), "{ok}");

    // `me` needs a user.
    let body = stack.gql("{ me { email } }", json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    stack.stop().await;
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_email_and_address() {
    let stack = TestStack::start().await;
    stack.sign_up("ada@example.com", "Ada").await;
    for _ in 0..5 {
        let body = log_in_body(&stack, "ada@example.com", "wrong password 1").await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    }
    // Even the right password is refused now, with when to retry.
    let body = log_in_body(&stack, "ada@example.com", PASSWORD).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert!(
        first_error_message(&body)
            .starts_with("too many failed logins for this email from your address; try again in ")
    );
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .is_some_and(|s| s > 0),
        "{body}"
    );
    // Another email is not affected.
    stack.sign_up("bob@example.com", "Bob").await;
    let body = log_in_body(&stack, "bob@example.com", PASSWORD).await;
    assert!(body["data"]["logIn"]["accessToken"].is_string(), "{body}");
    stack.stop().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let stack = TestStack::start().await;
    let first = stack.sign_up("ada@example.com", "Ada").await;
    let rotated = stack.data(REFRESH, json!({ "t": first.refresh })).await;
    let second = rotated["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(second, first.refresh);
    let access = rotated["refreshSession"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let me = stack.data_as(&access, "{ me { email } }", json!({})).await;
    assert_eq!(me["me"]["email"], "ada@example.com");

    // The first token again: refused, and the whole family dies with it.
    let body = stack.gql(REFRESH, json!({ "t": first.refresh })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert!(
        first_error_message(&body).contains("already used"),
        "{body}"
    );
    let body = stack.gql(REFRESH, json!({ "t": second })).await;
    assert_eq!(
        error_codes(&body),
        ["UNAUTHENTICATED"],
        "the rotated token is revoked too: {body}"
    );

    // Log out ends a login; a garbage token is refused.
    let other = stack.log_in("ada@example.com").await;
    let data = stack
        .data(
            "mutation($t: String!) { logOut(refreshToken: $t) }",
            json!({ "t": other.refresh }),
        )
        .await;
    assert_eq!(data["logOut"], true);
    let body = stack.gql(REFRESH, json!({ "t": other.refresh })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    let body = stack.gql(REFRESH, json!({ "t": "garbage" })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    stack.stop().await;
}

/// Asserts one UNAUTHENTICATED error with HTTP 401.
fn assert_401(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(
        body["errors"].as_array().map(Vec::len),
        Some(1),
        "{what}: {body}"
    );
    assert_eq!(error_codes(body), ["UNAUTHENTICATED"], "{what}: {body}");
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn bad_tokens_are_401_at_the_router_and_at_every_subgraph() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@example.com", "Ada").await;
    let keys = &stack.stack.keys;
    let claims = || {
        new_claims(
            keys.issuer(),
            ada.user_id.clone(),
            TokenType::Access,
            Duration::from_secs(300),
        )
    };

    let mut parts: Vec<String> = ada.access.split('.').map(str::to_owned).collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap_or_default())
            .unwrap_or_default();
    payload["adm"] = json!(true);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = parts.join(".");
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let mut expired = claims();
    expired.exp = chrono::Utc::now().timestamp() - 120;
    let expired = keys.sign(&expired).expect("sign");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_keys =
        KeyStore::open_or_create(&other_dir.path().join("k.json"), keys.issuer()).expect("keys");
    let wrong_key = other_keys.sign(&claims()).expect("sign");
    // Signed with the real key, but claiming another issuer.
    let mut foreign = claims();
    foreign.iss = "https://evil.test".into();
    let wrong_issuer = keys.sign(&foreign).expect("sign");
    let mut audience = claims();
    audience.aud = "analytics".into();
    let wrong_audience = keys.sign(&audience).expect("sign");

    let client = reqwest::Client::new();
    for (what, token) in [
        ("tampered", tampered.as_str()),
        ("alg none", alg_none.as_str()),
        ("expired", expired.as_str()),
        ("another key", wrong_key.as_str()),
        ("wrong issuer", wrong_issuer.as_str()),
        ("wrong audience", wrong_audience.as_str()),
        ("not a jwt", "hello"),
    ] {
        let (status, body) = stack.post_as(token, "{ me { email } }", json!({})).await;
        assert_401(status, &body, &format!("router, {what}"));
        for subgraph in ["identity", "apps", "licensing"] {
            let url = stack.stack.subgraph_url(subgraph).unwrap_or_default();
            let (status, body) =
                post_graphql(&client, &url, Some(token), "{ __typename }", json!({})).await;
            assert_401(status, &body, &format!("{subgraph}, {what}"));
        }
    }
    // The real token still works.
    let data = stack
        .data_as(&ada.access, "{ me { email } }", json!({}))
        .await;
    assert_eq!(data["me"]["email"], "ada@example.com");
    stack.stop().await;
}

#[tokio::test]
async fn an_organization_keeps_its_last_owner() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@example.com", "Ada").await;
    let grace = stack.sign_up("grace@example.com", "Grace").await;
    let org = stack.create_organization(&ada, "Acme", "acme").await;
    let members = "query($id: ID!) { organization(id: $id) { members { edges { node { id role user { email } } } } } }";
    let data = stack
        .data_as(&ada.access, members, json!({ "id": org }))
        .await;
    let ada_membership = data["organization"]["members"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    for (query, variables) in [
        (
            "mutation($m: ID!) { changeMemberRole(input: {membershipId: $m, role: ADMIN}) { id } }",
            json!({ "m": ada_membership }),
        ),
        (
            "mutation($m: ID!) { removeMember(membershipId: $m) }",
            json!({ "m": ada_membership }),
        ),
        (
            "mutation($o: ID!) { leaveOrganization(organizationId: $o) }",
            json!({ "o": org }),
        ),
    ] {
        let body = stack.gql_as(&ada.access, query, variables).await;
        assert_eq!(error_codes(&body), ["CONFLICT"], "{query}: {body}");
        assert_eq!(
            first_error_message(&body),
            "an organization must keep at least one owner: make someone else owner first"
        );
    }

    // A member cannot invite members; an owner can (even an address nobody has signed up with
    // yet), and can hand over ownership.
    let invite = "mutation($o: ID!, $e: String!, $r: Role!) { inviteMember(input: {organizationId: $o, email: $e, role: $r}) { id role } }";
    let grace_membership = stack
        .add_member(&ada, &org, "grace@example.com", "MEMBER")
        .await;
    stack.sign_up("linus@example.com", "Linus").await;
    let body = stack
        .gql_as(
            &grace.access,
            invite,
            json!({ "o": org, "e": "linus@example.com", "r": "MEMBER" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    let data = stack
        .data_as(
            &ada.access,
            invite,
            json!({ "o": org, "e": "nobody@example.com", "r": "MEMBER" }),
        )
        .await;
    assert_eq!(data["inviteMember"]["role"], "MEMBER", "{data}");
    stack
        .data_as(
            &ada.access,
            "mutation($m: ID!) { changeMemberRole(input: {membershipId: $m, role: OWNER}) { role } }",
            json!({ "m": grace_membership }),
        )
        .await;
    let data = stack
        .data_as(
            &ada.access,
            "mutation($o: ID!) { leaveOrganization(organizationId: $o) }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(data["leaveOrganization"], true);
    let data = stack
        .data_as(&grace.access, members, json!({ "id": org }))
        .await;
    assert_eq!(
        data["organization"]["members"]["edges"][0]["node"]["user"]["email"],
        "grace@example.com"
    );
    assert_eq!(
        data["organization"]["members"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_revoked_api_key_stops_working_within_five_seconds() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@example.com", "Ada").await;
    let org = stack.create_organization(&ada, "Acme", "acme").await;
    let created = stack
        .data_as(
            &ada.access,
            "mutation($o: ID!) { createApiKey(input: {organizationId: $o, name: \"deploy\", scopes: [\"organizations:read\"]}) { secret apiKey { id prefix scopes } } }",
            json!({ "o": org }),
        )
        .await;
    let secret = created["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key_id = created["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        secret.starts_with(
            created["createApiKey"]["apiKey"]["prefix"]
                .as_str()
                .unwrap_or("?")
        )
    );
    let body = stack
        .gql_as(&ada.access, "mutation($o: ID!) { createApiKey(input: {organizationId: $o, name: \"x\", scopes: [\"everything\"]}) { secret } }", json!({ "o": org }))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");

    let client = reqwest::Client::new();
    let call = |key: String| {
        let client = client.clone();
        let url = stack.stack.graphql_url();
        async move {
            let response = client
                .post(url)
                .header("x-api-key", key)
                .json(&json!({ "query": "{ organizations { edges { node { slug } } } }" }))
                .send()
                .await
                .expect("router answers");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or_default(),
            )
        }
    };
    let (status, body) = call(secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["organizations"]["edges"][0]["node"]["slug"],
        "acme"
    );
    let (status, body) = call("nxk_not-a-real-key".into()).await;
    assert_401(status, &body, "unknown key");

    // The key list never shows the secret again.
    let data = stack
        .data_as(&ada.access, "query($o: ID!) { organization(id: $o) { apiKeys { edges { node { name lastUsedAt } } } } }", json!({ "o": org }))
        .await;
    assert_eq!(
        data["organization"]["apiKeys"]["edges"][0]["node"]["name"],
        "deploy"
    );
    assert!(!data.to_string().contains(&secret));

    stack
        .data_as(&ada.access, "mutation($o: ID!, $id: ID!) { revokeApiKey(organizationId: $o, id: $id) { revokedAt } }", json!({ "o": org, "id": key_id }))
        .await;
    let revoked = Instant::now();
    loop {
        let (status, body) = call(secret.clone()).await;
        if status == 401 {
            assert_401(status, &body, "revoked key");
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(6),
            "revoked key still accepted: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("revoked key refused after {:?}", revoked.elapsed());
    stack.stop().await;
}

#[tokio::test]
async fn jwks_publishes_the_keys_and_rotation_keeps_old_tokens_valid() {
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@example.com", "Ada").await;
    let base = stack
        .stack
        .graphql_url()
        .trim_end_matches("/graphql")
        .to_owned();
    let client = reqwest::Client::new();
    let jwks = || async {
        client
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks")
            .json::<Value>()
            .await
            .expect("json")
    };
    let kid = |token: &str| {
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .unwrap_or_default()
    };
    let document = jwks().await;
    assert_eq!(document["keys"][0]["kid"], kid(&ada.access));
    assert_eq!(document["keys"][0]["crv"], "Ed25519");
    assert_eq!(document["keys"][0]["alg"], "EdDSA");
    let discovery: Value = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["issuer"], stack.stack.keys.issuer());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", stack.stack.keys.issuer())
    );

    nexus_kit::token::rotate(stack.stack.keys.path()).expect("rotate");
    // Every process rereads the key file within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let fresh = loop {
        let fresh = stack.log_in("ada@example.com").await;
        if kid(&fresh.access) != kid(&ada.access) {
            break fresh;
        }
        assert!(
            Instant::now() < deadline,
            "new tokens still use the old key"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The router rereads the key file on its own schedule (every 2 s, or at once for an unknown kid).
    let deadline = Instant::now() + Duration::from_secs(10);
    while jwks().await["keys"].as_array().map(Vec::len) != Some(2) {
        assert!(
            Instant::now() < deadline,
            "old and new keys are not both published"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for token in [&ada.access, &fresh.access] {
        let data = stack.data_as(token, "{ me { email } }", json!({})).await;
        assert_eq!(data["me"]["email"], "ada@example.com");
    }
    stack.stop().await;
}

/// A Nexus token verifies with PyJWT, a standard JWT library of another language, using only the
/// published JWKS. Runs when `NEXUS_TEST_PYJWT=1` (`.ci/run` installs PyJWT and sets it).
#[tokio::test]
async fn a_token_verifies_with_pyjwt_against_the_jwks() {
    if std::env::var("NEXUS_TEST_PYJWT").as_deref() != Ok("1") {
        println!("skipped: set NEXUS_TEST_PYJWT=1 with `pip install pyjwt cryptography`");
        return;
    }
    let stack = TestStack::start().await;
    let ada = stack.sign_up("ada@example.com", "Ada").await;
    let base = stack
        .stack
        .graphql_url()
        .trim_end_matches("/graphql")
        .to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/verify_token.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(format!("{base}/.well-known/jwks.json"))
        .arg(stack.stack.keys.issuer())
        .arg(&ada.access)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("verified: sub={}", ada.user_id)),
        "{stdout}"
    );
    // And PyJWT refuses a tampered one.
    let tampered = format!("{}x", ada.access);
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(format!("{base}/.well-known/jwks.json"))
        .arg(stack.stack.keys.issuer())
        .arg(&tampered)
        .output()
        .await
        .expect("python3 runs");
    assert!(!output.status.success());
    stack.stop().await;
}

/// Fails today's main: every made-up `X-Api-Key` cost a call to identity and a query there,
/// however many one address sent.
#[tokio::test]
async fn made_up_api_keys_are_refused_without_asking_identity_past_a_few() {
    let stack = TestStack::start_configured(|config, _| {
        // Long enough that the real key's exchange stays cached through the test.
        config.caches.api_key_seconds = 60;
    })
    .await;
    let ada = stack.sign_up("ada@example.com", "Ada").await;
    let org = stack.create_organization(&ada, "Acme", "acme").await;
    let created = stack
        .data_as(
            &ada.access,
            "mutation($o: ID!) { createApiKey(input: {organizationId: $o, name: \"deploy\", scopes: [\"organizations:read\"]}) { secret } }",
            json!({ "o": org }),
        )
        .await;
    let secret = created["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let from = |address: &str| {
        reqwest::Client::builder()
            .local_address(address.parse::<std::net::IpAddr>().expect("address"))
            .build()
            .expect("client")
    };
    let call = |client: reqwest::Client, key: String| {
        let url = stack.stack.graphql_url();
        async move {
            let response = client
                .post(url)
                .header("x-api-key", key)
                .json(&json!({ "query": "{ __typename }" }))
                .send()
                .await
                .expect("router answers");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or_default(),
            )
        }
    };
    let attacker = from("127.0.0.3");
    // The real key, used from the same address before the flood.
    let (status, body) = call(attacker.clone(), secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    // Not even shaped like a key: refused at once.
    let (status, body) = call(attacker.clone(), "garbage".into()).await;
    assert_eq!(
        (status, error_codes(&body)),
        (401, vec!["UNAUTHENTICATED".to_owned()]),
        "{body}"
    );
    let made_up = || {
        format!(
            "nxk_{}",
            URL_SAFE_NO_PAD
                .encode(uuid::Uuid::new_v4().as_bytes().repeat(2))
                .chars()
                .take(43)
                .collect::<String>()
        )
    };
    for _ in 0..nexus_router::plugins::auth::MAX_BAD_API_KEYS {
        let (status, body) = call(attacker.clone(), made_up()).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = call(attacker.clone(), made_up()).await;
    assert_eq!(
        (status, error_codes(&body)),
        (429, vec!["RATE_LIMITED".to_owned()]),
        "{body}"
    );
    // The real key, exchanged already, still works from there; other addresses are not stopped.
    let (status, body) = call(attacker.clone(), secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(from("127.0.0.4"), made_up()).await;
    assert_eq!(status, 401, "{body}");
    stack.stop().await;
}
