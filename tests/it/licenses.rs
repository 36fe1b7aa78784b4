//! Licenses apps can trust: issued with a key shown once, activated and validated with precise
//! codes, never over-activated under a race, signed certificates that verify offline (and fail
//! when tampered with), paid apps that need a license to install and stop working when it lapses.

use std::time::Duration;

use crate::common::{FakeApp, Session, TestStack, error_codes, first_error_message};
use serde_json::{Value, json};

const PROFILE: &str = "{ me { email analyticsProfile { visits } } }";
const ISSUE: &str = "mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { key license { id kind status keyHint maxActivations entitlements expiresAt } } }";
/// Installations follow their licenses within this (the sync runs every 300 ms here).
const SYNCED: Duration = Duration::from_secs(20);
const CHECK_FIELDS: &str =
    "valid code detail license { id activationCount } activation { fingerprint name lastSeenAt }";

/// A check and its answer: (as whom, operation, key, fingerprint, the code it must answer).
type Step<'a> = (Option<&'a str>, &'a str, &'a str, Option<&'a str>, &'a str);

struct World {
    stack: TestStack,
    _app: FakeApp,
    app_id: String,
    developer: Session,
    admin: Session,
    ada: Session,
    acme: String,
    bob: Session,
}

async fn world(pricing: Value, license_sync: Duration) -> World {
    let stack = TestStack::start_with_license_sync(license_sync).await;
    let developer = stack.sign_up("dev@apps.test", "Dev").await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let app = FakeApp::analytics().await;
    let manifest = json!({
        "namespace": "analytics", "name": "Analytics", "version": "1.0.0", "category": "insights",
        "author": { "name": "Dev", "email": "dev@apps.test" }, "pricing": pricing,
        "graphql": { "subgraph_url": app.url() },
        "scopes": { "required": ["users:read"], "optional": ["licenses:read"] }
    });
    let (app_id, _) = stack.publish_app(&developer, &admin, &manifest).await;
    let (ada, acme) = stack.owner_of("ada@acme.test", "Acme", "acme").await;
    let (bob, _) = stack.owner_of("bob@bobco.test", "Bobco", "bobco").await;
    World {
        stack,
        _app: app,
        app_id,
        developer,
        admin,
        ada,
        acme,
        bob,
    }
}

fn paid() -> Value {
    json!({ "model": "paid", "price_cents": 900, "currency": "EUR" })
}

impl World {
    /// Issues a license to acme as the developer; returns (key, license id).
    async fn issue(&self, max_activations: i32, expires_at: Option<String>) -> (String, String) {
        let data = self
            .stack
            .data_as(
                &self.developer.access,
                ISSUE,
                json!({ "i": { "appId": self.app_id, "organizationId": self.acme, "kind": "PURCHASE",
                               "maxActivations": max_activations, "expiresAt": expires_at,
                               "entitlements": ["pro", "seats:10"] } }),
            )
            .await;
        let issued = &data["issueLicense"];
        (
            issued["key"].as_str().unwrap_or_default().to_owned(),
            issued["license"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// Runs `activateLicense`, `deactivateLicense` or `validateLicense` as `token` (None:
    /// anonymously); returns the check.
    async fn check(
        &self,
        token: Option<&str>,
        operation: &str,
        key: &str,
        fingerprint: Option<&str>,
    ) -> Value {
        let (declared, arguments, variables) = match fingerprint {
            Some(fp) => (
                "$key: String!, $fp: String!",
                "key: $key, fingerprint: $fp",
                json!({ "key": key, "fp": fp }),
            ),
            None => ("$key: String!", "key: $key", json!({ "key": key })),
        };
        let query =
            format!("mutation({declared}) {{ {operation}({arguments}) {{ {CHECK_FIELDS} }} }}");
        let data = match token {
            Some(token) => self.stack.data_as(token, &query, variables).await,
            None => self.stack.data(&query, variables).await,
        };
        data[operation].clone()
    }

    async fn code(
        &self,
        token: Option<&str>,
        operation: &str,
        key: &str,
        fp: Option<&str>,
    ) -> String {
        let check = self.check(token, operation, key, fp).await;
        assert_eq!(check["valid"], check["code"] == "VALID", "{check}");
        check["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Runs each check in turn.
    async fn expect_codes(&self, steps: &[Step<'_>]) {
        for (step, (token, operation, key, fingerprint, expected)) in steps.iter().enumerate() {
            let code = self.code(*token, operation, key, *fingerprint).await;
            assert_eq!(
                code, *expected,
                "step {step}: {operation} {key} {fingerprint:?}"
            );
        }
    }

    async fn change(&self, token: &str, mutation: &str, license: &str) -> Value {
        self.stack
            .gql_as(
                token,
                &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ status }} }}"),
                json!({ "id": license }),
            )
            .await
    }
}

#[tokio::test]
async fn licenses_answer_every_validation_code() {
    let w = world(paid(), Duration::from_secs(3600)).await;
    let ada = w.ada.access.as_str();

    // Only the app's developers (and platform admins) issue its licenses.
    let body = w
        .stack
        .gql_as(
            &w.bob.access,
            ISSUE,
            json!({ "i": { "appId": w.app_id, "organizationId": w.acme, "kind": "FREE" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    let body = w
        .stack
        .gql_as(
            &w.developer.access,
            ISSUE,
            json!({ "i": { "appId": w.app_id, "organizationId": uuid::Uuid::new_v4(), "kind": "FREE" } }),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        ["NOT_FOUND"],
        "no such organization: {body}"
    );
    let data = w
        .stack
        .data_as(
            &w.developer.access,
            ISSUE,
            json!({ "i": { "appId": w.app_id, "organizationId": w.acme, "kind": "PURCHASE",
                           "maxActivations": 2, "entitlements": ["pro", "seats:10"] } }),
        )
        .await;
    let issued = &data["issueLicense"];
    let key = issued["key"].as_str().unwrap_or_default().to_owned();
    let groups: Vec<&str> = key.split('-').collect();
    assert_eq!(groups[0], "NXL", "{key}");
    assert_eq!(groups.len(), 7, "{key}");
    assert!(groups[1..].iter().all(|g| g.len() == 5), "{key}");
    assert_eq!(
        issued["license"]["keyHint"],
        format!("…{}", &key[key.len() - 4..])
    );
    assert_eq!(issued["license"]["status"], "ACTIVE");
    assert_eq!(
        issued["license"]["entitlements"],
        json!(["pro", "seats:10"])
    );
    // The key is stored only as a hash.
    let stored: Vec<String> = {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = w.stack.stack.db.get_database_backend();
        w.stack
            .stack
            .db
            .query_all(Statement::from_string(
                backend,
                "SELECT key_hash FROM licenses",
            ))
            .await
            .expect("query")
            .iter()
            .filter_map(|row| row.try_get::<Option<String>>("", "key_hash").ok().flatten())
            .collect()
    };
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains(&groups[1].to_owned()),
        "the key is not stored"
    );

    // Anonymous validation by key alone, without license details.
    let check = w.check(None, "validateLicense", &key, None).await;
    assert_eq!(check["code"], "VALID", "{check}");
    assert_eq!(
        check["license"],
        Value::Null,
        "anonymous callers see no details"
    );
    let retyped = key.to_lowercase().replace('-', " ");
    w.expect_codes(&[
        (
            None,
            "validateLicense",
            "NXL-00000-00000-00000-00000-00000-00000",
            None,
            "NOT_FOUND",
        ),
        // However it is typed.
        (None, "validateLicense", &retyped, None, "VALID"),
        (
            Some(ada),
            "validateLicense",
            &key,
            Some("m1"),
            "NO_ACTIVATION",
        ),
    ])
    .await;

    // Activations, up to the maximum; the same machine again is no new activation.
    let check = w
        .check(Some(ada), "activateLicense", &key, Some("m1"))
        .await;
    assert_eq!(check["code"], "VALID", "{check}");
    assert_eq!(check["activation"]["fingerprint"], "m1");
    let seen = |check: &Value| -> chrono::DateTime<chrono::Utc> {
        check["activation"]["lastSeenAt"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no lastSeenAt: {check}"))
    };
    let activated_seen = seen(&check);
    assert_eq!(check["license"]["activationCount"], 1);
    w.expect_codes(&[
        (Some(ada), "activateLicense", &key, Some("m1"), "VALID"),
        (Some(ada), "activateLicense", &key, Some("m2"), "VALID"),
    ])
    .await;
    let check = w
        .check(Some(ada), "activateLicense", &key, Some("m3"))
        .await;
    assert_eq!(check["code"], "TOO_MANY_ACTIVATIONS", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("2 activations"),
        "{check}"
    );
    let check = w
        .check(Some(ada), "validateLicense", &key, Some("m1"))
        .await;
    assert_eq!(check["code"], "VALID");
    assert!(
        seen(&check) > activated_seen,
        "validation records the activation as seen: {check}"
    );
    let bob = w.bob.access.as_str();
    w.expect_codes(&[
        (
            Some(ada),
            "validateLicense",
            &key,
            Some("m3"),
            "FINGERPRINT_MISMATCH",
        ),
        // Another organization cannot use acme's key.
        (Some(bob), "activateLicense", &key, Some("b1"), "NOT_FOUND"),
        // A freed activation can be taken.
        (Some(ada), "deactivateLicense", &key, Some("m2"), "VALID"),
        (
            Some(ada),
            "deactivateLicense",
            &key,
            Some("m2"),
            "NO_ACTIVATION",
        ),
    ])
    .await;
    let check = w
        .check(Some(ada), "activateLicense", &key, Some("m3"))
        .await;
    assert_eq!(
        (&check["code"], &check["valid"]),
        (&json!("VALID"), &json!(true)),
        "{check}"
    );
    let body = w
        .stack
        .gql_as(
            ada,
            "mutation($k: String!) { activateLicense(key: $k, fingerprint: \"  \") { code } }",
            json!({ "k": key }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");

    // Suspend, reinstate, revoke: by the developer, never by the customer.
    let license = check["license"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (developer, admin) = (w.developer.access.as_str(), w.admin.access.as_str());
    // (who, the change, its answer: the new status or an error code, what validation says after)
    for (who, mutation, answer, validation) in [
        (ada, "suspendLicense", "NOT_FOUND", "VALID"),
        (developer, "suspendLicense", "SUSPENDED", "SUSPENDED"),
        (admin, "reinstateLicense", "ACTIVE", "VALID"),
        (developer, "revokeLicense", "REVOKED", "REVOKED"),
        (developer, "reinstateLicense", "CONFLICT", "REVOKED"),
    ] {
        let body = w.change(who, mutation, &license).await;
        let got = body["data"][mutation]["status"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| error_codes(&body).into_iter().next())
            .unwrap_or_default();
        assert_eq!(got, answer, "{mutation}: {body}");
        w.expect_codes(&[
            (Some(ada), "validateLicense", &key, Some("m1"), validation),
            (None, "validateLicense", &key, None, validation),
        ])
        .await;
    }
    assert_eq!(
        w.code(Some(ada), "activateLicense", &key, Some("m9")).await,
        "REVOKED"
    );

    // Expiry, and renewal.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (key, license) = w.issue(1, Some(soon)).await;
    assert_eq!(
        w.code(Some(ada), "activateLicense", &key, Some("m1")).await,
        "VALID"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        w.code(Some(ada), "validateLicense", &key, Some("m1")).await,
        "EXPIRED"
    );
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let body = w
        .stack
        .gql_as(
            &w.developer.access,
            "mutation($id: ID!, $at: DateTime!) { renewLicense(id: $id, expiresAt: $at) { status } }",
            json!({ "id": license, "at": later }),
        )
        .await;
    assert_eq!(body["data"]["renewLicense"]["status"], "ACTIVE", "{body}");
    assert_eq!(
        w.code(Some(ada), "validateLicense", &key, Some("m1")).await,
        "VALID"
    );
    w.stack.stop().await;
}

#[tokio::test]
async fn the_app_activates_with_its_installation_token() {
    let w = world(paid(), Duration::from_secs(3600)).await;
    let (key, _) = w.issue(2, None).await;
    let installation = w.stack.install(&w.ada, &w.app_id).await;
    let app = w
        .stack
        .installation_token(&w.developer, &w.app_id, &installation)
        .await;
    let check = w
        .check(Some(&app), "activateLicense", &key, Some("server-1"))
        .await;
    assert_eq!(check["code"], "VALID", "{check}");
    // Granted `licenses:read`? No: the app sees the outcome, not the license.
    assert_eq!(check["license"], Value::Null, "{check}");
    let data = w
        .stack
        .data_as(
            &app,
            "query($k: String!) { licenseCertificate(key: $k, fingerprint: \"server-1\") { certificate } }",
            json!({ "k": key }),
        )
        .await;
    assert!(
        data["licenseCertificate"]["certificate"].is_string(),
        "{data}"
    );

    // Another app's installation token cannot use this app's license.
    let crm = FakeApp::start(format!(
        "{}\ntype User @key(fields: \"id\") {{ id: ID! crmContact: CrmContact }}\n\
         type CrmContact {{ name: String }}",
        r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])"#
    ))
    .await;
    let manifest = json!({
        "namespace": "crm", "name": "CRM", "version": "1.0.0", "category": "sales",
        "author": { "name": "Dev", "email": "dev@apps.test" }, "pricing": { "model": "free" },
        "graphql": { "subgraph_url": crm.url() },
        "scopes": { "required": ["users:read"] }
    });
    let (crm_id, _) = w.stack.publish_app(&w.developer, &w.admin, &manifest).await;
    let crm_installation = w.stack.install(&w.ada, &crm_id).await;
    let crm_token = w
        .stack
        .installation_token(&w.developer, &crm_id, &crm_installation)
        .await;
    assert_eq!(
        w.code(Some(&crm_token), "activateLicense", &key, Some("server-2"))
            .await,
        "NOT_FOUND"
    );
    w.stack.stop().await;
}

#[tokio::test]
async fn fifty_racing_activations_never_exceed_the_maximum() {
    let w = world(paid(), Duration::from_secs(3600)).await;
    let (key, license) = w.issue(5, None).await;
    let query = "mutation($k: String!, $fp: String!) { activateLicense(key: $k, fingerprint: $fp) { code } }";
    let attempts = (0..50).map(|i| {
        let (client, url, token, key) = (
            w.stack.client.clone(),
            w.stack.stack.graphql_url(),
            w.ada.access.clone(),
            key.clone(),
        );
        tokio::spawn(async move {
            let (_, body) = crate::common::post_graphql(
                &client,
                &url,
                Some(&token),
                query,
                json!({ "k": key, "fp": format!("machine-{i}") }),
            )
            .await;
            body["data"]["activateLicense"]["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("error: {body}"))
        })
    });
    let mut codes = Vec::new();
    for attempt in attempts {
        codes.push(attempt.await.expect("task"));
    }
    let valid = codes.iter().filter(|c| *c == "VALID").count();
    let refused = codes
        .iter()
        .filter(|c| *c == "TOO_MANY_ACTIVATIONS")
        .count();
    println!(
        "{}: {valid} activated, {refused} refused",
        w.stack.db.backend()
    );
    assert_eq!((valid, refused), (5, 45), "{codes:?}");
    let data = w
        .stack
        .data_as(
            &w.ada.access,
            "query($id: ID!) { license(id: $id) { activationCount activations(first: 100) { edges { node { fingerprint } } } } }",
            json!({ "id": license }),
        )
        .await;
    assert_eq!(data["license"]["activationCount"], 5, "{data}");
    assert_eq!(
        data["license"]["activations"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    w.stack.stop().await;
}

#[tokio::test]
async fn a_revocation_racing_reinstatements_is_final() {
    let w = world(paid(), Duration::from_secs(3600)).await;
    let (_, license) = w.issue(5, None).await;
    let body = w
        .change(&w.developer.access, "suspendLicense", &license)
        .await;
    assert_eq!(
        body["data"]["suspendLicense"]["status"], "SUSPENDED",
        "{body}"
    );
    // Twenty-five reinstatements and twenty-five revocations at once.
    let mutations: Vec<&str> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                "reinstateLicense"
            } else {
                "revokeLicense"
            }
        })
        .collect();
    let answers = w
        .stack
        .all_at_once(
            mutations
                .iter()
                .map(|mutation| {
                    (
                        w.developer.access.clone(),
                        format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ status }} }}"),
                        json!({ "id": license }),
                    )
                })
                .collect(),
        )
        .await;
    let mut revoked = 0;
    for (mutation, (_, body)) in mutations.iter().zip(answers) {
        if body["data"][mutation]["status"] == "REVOKED" {
            revoked += 1;
        } else if body["data"][mutation].is_null() {
            assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
        }
    }
    assert_eq!(revoked, 1, "exactly one revocation applies");
    let data = w
        .stack
        .data_as(
            &w.developer.access,
            "query($id: ID!) { license(id: $id) { status } }",
            json!({ "id": license }),
        )
        .await;
    assert_eq!(
        data["license"]["status"], "REVOKED",
        "revoked is final: {data}"
    );
    w.stack.stop().await;
}

#[tokio::test]
async fn certificates_verify_offline_and_tampering_is_detected() {
    let w = world(paid(), Duration::from_secs(3600)).await;
    let (key, license) = w.issue(2, None).await;
    let ada = w.ada.access.as_str();
    let query = "query($k: String!, $fp: String!) { licenseCertificate(key: $k, fingerprint: $fp) { certificate expiresAt keyId } }";
    // Only for an activated machine.
    let body = w
        .stack
        .gql_as(ada, query, json!({ "k": key, "fp": "m1" }))
        .await;
    assert_eq!(error_codes(&body), ["NO_ACTIVATION"], "{body}");
    assert_eq!(
        w.code(Some(ada), "activateLicense", &key, Some("m1")).await,
        "VALID"
    );
    let data = w
        .stack
        .data_as(ada, query, json!({ "k": key, "fp": "m1" }))
        .await;
    let certificate = data["licenseCertificate"]["certificate"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // The example app verifies it offline, with the published keys only.
    let jwks_url = w
        .stack
        .stack
        .graphql_url()
        .replace("/graphql", "/.well-known/jwks.json");
    let jwks_text = reqwest::get(&jwks_url)
        .await
        .expect("JWKS")
        .text()
        .await
        .expect("JWKS body");
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks_text).expect("a JWKS");
    let issuer = w.stack.stack.keys.issuer().to_owned();
    let verify = |certificate: &str, fingerprint: &str| {
        nexus_example_analytics::license::verify_certificate(
            certificate,
            &jwks,
            &issuer,
            "analytics",
            fingerprint,
        )
    };
    let claims = verify(&certificate, "m1").expect("the certificate verifies");
    assert_eq!(claims.license_id, license);
    assert_eq!(claims.app_namespace, "analytics");
    assert_eq!(claims.organization_id, w.acme);
    assert_eq!(claims.kind, "PURCHASE");
    assert_eq!(claims.entitlements, ["pro", "seats:10"]);
    assert!(verify(&certificate, "m2").is_err(), "another machine");
    assert!(
        nexus_example_analytics::license::verify_certificate(
            &certificate,
            &jwks,
            &issuer,
            "kudos",
            "m1"
        )
        .is_err(),
        "another app"
    );

    // Tampering: more entitlements in the payload, same signature.
    let tampered = tamper(&certificate);
    let error = verify(&tampered, "m1").err().unwrap_or_default();
    assert!(error.contains("InvalidSignature"), "{error}");

    // An Ed25519 implementation that is not ours (Python's `cryptography`), following the
    // documented recipe with nothing but the published JWKS.
    if std::env::var("NEXUS_TEST_PYJWT").is_ok_and(|v| v == "1") {
        let jwks_file = w.stack.dir.path().join("jwks.json");
        std::fs::write(&jwks_file, &jwks_text).expect("write JWKS");
        let run = |certificate: &str| {
            std::process::Command::new("python3")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/scripts/verify_certificate.py"
                ))
                .arg(&jwks_file)
                .args([issuer.as_str(), "analytics", "m1", certificate])
                .output()
                .expect("python3 runs")
        };
        let good = run(&certificate);
        let out = String::from_utf8_lossy(&good.stdout);
        assert!(
            good.status.success(),
            "{out} {}",
            String::from_utf8_lossy(&good.stderr)
        );
        assert!(out.contains(&format!("license={license}")), "{out}");
        let bad = run(&tampered);
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stdout).contains("bad signature"));
    } else {
        eprintln!("skipped the Python check: set NEXUS_TEST_PYJWT=1 with `cryptography` installed");
    }
    w.stack.stop().await;
}

/// The certificate with `"pro"` in its payload changed to `"max"`, its signature kept.
fn tamper(certificate: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = certificate.split('.').collect();
    let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url payload");
    let changed = String::from_utf8_lossy(&payload).replace("\"pro\"", "\"max\"");
    assert_ne!(changed.as_bytes(), payload.as_slice());
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(changed.as_bytes()),
        parts[2]
    )
}

#[tokio::test]
async fn paid_apps_need_a_license_and_stop_when_it_lapses() {
    let w = world(paid(), Duration::from_millis(300)).await;
    let install = "mutation($app: ID!) { installApp(appId: $app) { id status } }";
    let body = w
        .stack
        .gql_as(&w.ada.access, install, json!({ "app": w.app_id }))
        .await;
    assert_eq!(error_codes(&body), ["LICENSE_REQUIRED"], "{body}");
    assert!(first_error_message(&body).contains("`analytics`"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["app"], "analytics");

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let (_, license) = w.issue(1, Some(soon)).await;
    let data = w
        .stack
        .data_as(&w.ada.access, install, json!({ "app": w.app_id }))
        .await;
    assert_eq!(data["installApp"]["status"], "ACTIVE");
    w.stack
        .eventually(&w.ada.access, PROFILE, SYNCED, |b| {
            b["data"]["me"]["analyticsProfile"]["visits"] == 42
        })
        .await;

    // Expired: the installation is suspended and the router refuses the app's fields.
    let body = w
        .stack
        .eventually(&w.ada.access, PROFILE, SYNCED, |b| {
            error_codes(b) == ["APP_NOT_INSTALLED"]
        })
        .await;
    assert_eq!(body["data"]["me"]["email"], "ada@acme.test");
    let data = w
        .stack
        .data_as(
            &w.ada.access,
            "{ organization(slug: \"acme\") { installations { edges { node { status license { status } } } } } }",
            json!({}),
        )
        .await;
    let node = &data["organization"]["installations"]["edges"][0]["node"];
    assert_eq!(node["status"], "SUSPENDED", "{data}");
    assert_eq!(node["license"]["status"], "EXPIRED", "{data}");

    // Renewed: it works again.
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    w.stack
        .data_as(
            &w.developer.access,
            "mutation($id: ID!, $at: DateTime!) { renewLicense(id: $id, expiresAt: $at) { status } }",
            json!({ "id": license, "at": later }),
        )
        .await;
    w.stack
        .eventually(&w.ada.access, PROFILE, SYNCED, |b| {
            b["data"]["me"]["analyticsProfile"]["visits"] == 42
        })
        .await;

    // Revoked: refused again.
    let body = w
        .change(&w.developer.access, "revokeLicense", &license)
        .await;
    assert_eq!(body["data"]["revokeLicense"]["status"], "REVOKED", "{body}");
    w.stack
        .eventually(&w.ada.access, PROFILE, SYNCED, |b| {
            error_codes(b) == ["APP_NOT_INSTALLED"]
        })
        .await;
    w.stack.stop().await;
}

#[tokio::test]
async fn trial_apps_get_one_trial_license_on_install() {
    let w = world(
        json!({ "model": "trial", "trial_days": 7 }),
        Duration::from_secs(3600),
    )
    .await;
    let installation = w.stack.install(&w.ada, &w.app_id).await;
    let licenses = "{ organization(slug: \"acme\") { licenses { edges { node { kind status expiresAt } } } } }";
    let data = w.stack.data_as(&w.ada.access, licenses, json!({})).await;
    let edges = data["organization"]["licenses"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edges.len(), 1, "{data}");
    assert_eq!(edges[0]["node"]["kind"], "TRIAL");
    assert_eq!(edges[0]["node"]["status"], "ACTIVE");
    let expires: chrono::DateTime<chrono::Utc> = edges[0]["node"]["expiresAt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a trial expires");
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((7 * 24 - 1..=7 * 24).contains(&days), "{days} hours");

    // Uninstalling and installing again does not start a second trial.
    w.stack
        .data_as(
            &w.ada.access,
            "mutation($id: ID!) { uninstallApp(installationId: $id) { status } }",
            json!({ "id": installation }),
        )
        .await;
    w.stack.install(&w.ada, &w.app_id).await;
    let data = w.stack.data_as(&w.ada.access, licenses, json!({})).await;
    assert_eq!(
        data["organization"]["licenses"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{data}"
    );
    // Clients cannot start trials themselves: the mutation is internal to Nexus.
    let (status, body) = w
        .stack
        .post_as(
            &w.ada.access,
            "mutation($app: ID!, $org: ID!) { startTrial(appId: $app, organizationId: $org, trialDays: 365) { id } }",
            json!({ "app": w.app_id, "org": w.acme }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("Cannot query field \\\"startTrial\\\""),
        "{body}"
    );
    w.stack.stop().await;
}

#[tokio::test]
async fn licenses_are_visible_to_their_organization_the_developer_and_admins_only() {
    let w = world(paid(), Duration::from_secs(3600)).await;
    let (key, license) = w.issue(1, None).await;
    let query = "query($id: ID!) { license(id: $id) { id keyHint } }";
    for (who, token, visible) in [
        ("ada (acme)", &w.ada.access, true),
        ("the developer", &w.developer.access, true),
        ("a platform admin", &w.admin.access, true),
        ("bob (another organization)", &w.bob.access, false),
    ] {
        let data = w
            .stack
            .data_as(token, query, json!({ "id": license }))
            .await;
        assert_eq!(data["license"]["id"].is_string(), visible, "{who}: {data}");
    }
    // The developer lists their app's licenses; others may not.
    let list = "query($app: ID!) { appLicenses(appId: $app) { edges { node { id } } } }";
    let data = w
        .stack
        .data_as(&w.developer.access, list, json!({ "app": w.app_id }))
        .await;
    assert_eq!(
        data["appLicenses"]["edges"][0]["node"]["id"],
        license.as_str()
    );
    let body = w
        .stack
        .gql_as(&w.ada.access, list, json!({ "app": w.app_id }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    // Bob learns nothing from a validation with acme's key beyond its code.
    let check = w
        .check(Some(&w.bob.access), "validateLicense", &key, None)
        .await;
    assert_eq!(check["code"], "VALID");
    assert_eq!(check["license"], Value::Null, "{check}");
    w.stack.stop().await;
}

#[tokio::test]
async fn anonymous_validation_is_rate_limited() {
    let w = world(paid(), Duration::from_secs(3600)).await;
    let (key, _) = w.issue(1, None).await;
    let query = "mutation($k: String!) { validateLicense(key: $k) { code } }";
    let mut limited = None;
    let started = std::time::Instant::now();
    for attempt in 1..=200 {
        let body = w.stack.gql(query, json!({ "k": key })).await;
        if !error_codes(&body).is_empty() {
            limited = Some((attempt, body));
            break;
        }
        assert_eq!(body["data"]["validateLicense"]["code"], "VALID");
    }
    let (attempt, body) = limited.expect("anonymous validations are refused past the budget");
    // 60 at once, and one more each second since (the bucket refills at 60 a minute).
    let refilled = started.elapsed().as_secs() as usize + 1;
    assert!(
        (61..=61 + refilled).contains(&attempt),
        "refused at attempt {attempt} after {:?}",
        started.elapsed()
    );
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].is_number());
    // With a token, the app is not limited.
    let check = w
        .check(Some(&w.ada.access), "validateLicense", &key, None)
        .await;
    assert_eq!(check["code"], "VALID");
    w.stack.stop().await;
}
