//! `sdk/test-vectors/`: the verdicts every Nexus SDK must give. This test makes them (from fixed
//! keys, so the files are the same on every run), checks the committed files are exactly what it
//! makes — `NEXUS_WRITE_VECTORS=1 cargo test -p nexus-app --test vectors` writes them — and runs
//! them through this SDK. The Node and Python SDKs run the same files.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use nexus_app::context::verify_at;
use nexus_app::{Jwks, Webhook};
use serde_json::{Value, json};
use sha2::Sha256;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../test-vectors");
const ISSUER: &str = "https://nexus.example";
const AUDIENCE: &str = "crm";
const NOW: i64 = 1_800_000_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn jwk(n: u8) -> Value {
    json!({
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
        "kid": format!("key-{n}"),
        "x": URL_SAFE_NO_PAD.encode(key(n).verifying_key().as_bytes()),
    })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(canonical(value))
}

/// `value` as compact JSON with its keys sorted, whatever order serde_json keeps maps in (a
/// workspace build may turn on its `preserve_order`): the same tokens on every build.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: std::collections::BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let fields: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::String((*k).clone())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// A JWT of `claims` with `header`, signed by key `n`.
fn signed(header: Value, claims: &Value, n: u8) -> String {
    let input = format!("{}.{}", b64(&header), b64(claims));
    let signature = key(n).sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn eddsa(kid: &str) -> Value {
    json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid })
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "typ": "context",
        "sub": "0192f0c4-0000-7000-8000-000000000001",
        "org": "0192f0c4-0000-7000-8000-0000000000aa",
        "role": "admin",
        "inst": "0192f0c4-0000-7000-8000-0000000000bb",
        "scopes": ["users:read", "organizations:read"],
        "iat": NOW - 30, "exp": NOW + 270,
        "jti": "0192f0c4-0000-7000-8000-0000000000cc",
    })
}

fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().into_iter().flatten() {
        c[k] = v.clone();
    }
    c
}

fn case(name: &str, token: String, verdict: &str) -> Value {
    json!({ "name": name, "token": token, "now": NOW, "verdict": verdict })
}

fn context_tokens() -> Value {
    let valid = signed(eddsa("key-1"), &claims(), 1);
    let [header, _, signature] = {
        let parts: Vec<&str> = valid.split('.').collect();
        [
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        ]
    };
    let tampered = format!(
        "{header}.{}.{signature}",
        b64(&with(
            json!({ "scopes": ["users:read", "organizations:read", "users:write"] })
        ))
    );
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&claims())
    );
    let confused = {
        // HS256 keyed with the public key, the classic algorithm confusion.
        let input = format!(
            "{}.{}",
            b64(&json!({ "alg": "HS256", "typ": "JWT", "kid": "key-1" })),
            b64(&claims())
        );
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key(1).verifying_key().as_bytes()).expect("key");
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let cases = vec![
        case("valid", valid.clone(), "valid"),
        case(
            "signed with the second published key (a rotation)",
            signed(eddsa("key-2"), &claims(), 2),
            "valid",
        ),
        case(
            "expired a minute ago",
            signed(eddsa("key-1"), &with(json!({ "exp": NOW - 60 })), 1),
            "expired",
        ),
        case(
            "expired within the leeway",
            signed(eddsa("key-1"), &with(json!({ "exp": NOW - 3 })), 1),
            "valid",
        ),
        case(
            "issued two minutes ahead",
            signed(
                eddsa("key-1"),
                &with(json!({ "iat": NOW + 120, "exp": NOW + 420 })),
                1,
            ),
            "not_yet_valid",
        ),
        case(
            "not before two minutes ahead",
            signed(eddsa("key-1"), &with(json!({ "nbf": NOW + 120 })), 1),
            "not_yet_valid",
        ),
        case(
            "for another app",
            signed(eddsa("key-1"), &with(json!({ "aud": "billing" })), 1),
            "wrong_audience",
        ),
        case(
            "from another platform",
            signed(
                eddsa("key-1"),
                &with(json!({ "iss": "https://evil.example" })),
                1,
            ),
            "wrong_issuer",
        ),
        case(
            "an access token presented as a context token",
            signed(
                eddsa("key-1"),
                &with(json!({ "typ": "access", "aud": AUDIENCE })),
                1,
            ),
            "wrong_type",
        ),
        case(
            "an installation token presented as a context token",
            signed(eddsa("key-1"), &with(json!({ "typ": "installation" })), 1),
            "wrong_type",
        ),
        case("alg none", none, "bad_algorithm"),
        case("HS256 keyed with the public key", confused, "bad_algorithm"),
        case(
            "signed with a key the platform does not publish",
            signed(eddsa("key-3"), &claims(), 3),
            "unknown_key",
        ),
        case(
            "no kid",
            signed(json!({ "alg": "EdDSA", "typ": "JWT" }), &claims(), 1),
            "unknown_key",
        ),
        case("payload changed after signing", tampered, "bad_signature"),
        case(
            "signed with an unpublished key under a published kid",
            signed(eddsa("key-1"), &claims(), 3),
            "bad_signature",
        ),
        case(
            "two segments",
            format!("{header}.{}", b64(&claims())),
            "malformed",
        ),
        case("not base64", "%%%.%%%.%%%".to_owned(), "malformed"),
    ];
    json!({
        "about": "Context tokens as the router sends them to the app `crm`. Verify each token with `jwks`, `issuer` and `audience` as of `now` (seconds since the epoch), with 10 s of leeway on exp, nbf and iat; `verdict` is `valid` or the first failing check in the order: malformed, bad_algorithm, unknown_key, bad_signature, wrong_type, wrong_issuer, wrong_audience, expired, not_yet_valid.",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "leeway_seconds": 10,
        "jwks": { "keys": [jwk(1), jwk(2)] },
        "cases": cases,
    })
}

fn v1(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let bytes = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&bytes).expect("key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn v1a(n: u8, id: &str, timestamp: i64, body: &str) -> String {
    let signature = key(n).sign(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1a,{}", STANDARD.encode(signature.to_bytes()))
}

fn webhooks() -> Value {
    // The Standard Webhooks specification's own example.
    let (secret, id, ts, body) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330_i64,
        r#"{"test": 2432232314}"#,
    );
    let reference = v1(secret, id, ts, body);
    assert_eq!(reference, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    let old = "whsec_QWxsIGtleXMgcm90YXRlOiB0aGlzIG9uZSBpcyBvbGQ=";
    let new = "whsec_QW5kIHRoaXMgb25lIGlzIHRoZSBuZXcgb25lLCAzMmI=";
    let body2 = r#"{"type":"installation.created","timestamp":"2027-01-15T08:00:00Z","data":{"installationId":"0192f0c4-0000-7000-8000-0000000000bb"}}"#;
    let id2 = "msg_2bAfnB0dL9NwS8yq3xj1";
    let t2 = NOW;
    let case = |name: &str,
                secrets: &[&str],
                platform_keys: bool,
                id: &str,
                timestamp: String,
                signature: String,
                body: &str,
                now: i64,
                verdict: &str| {
        json!({
            "name": name, "secrets": secrets, "platform_keys": platform_keys,
            "id": id, "timestamp": timestamp, "signature": signature, "body": body,
            "now": now, "verdict": verdict,
        })
    };
    let cases = vec![
        case(
            "the Standard Webhooks example",
            &[secret],
            false,
            id,
            ts.to_string(),
            reference.clone(),
            body,
            ts,
            "valid",
        ),
        case(
            "five minutes and a second late",
            &[secret],
            false,
            id,
            ts.to_string(),
            reference.clone(),
            body,
            ts + 301,
            "timestamp_too_old",
        ),
        case(
            "five minutes and a second early",
            &[secret],
            false,
            id,
            ts.to_string(),
            reference.clone(),
            body,
            ts - 301,
            "timestamp_too_new",
        ),
        case(
            "within the tolerance",
            &[secret],
            false,
            id,
            ts.to_string(),
            reference.clone(),
            body,
            ts + 299,
            "valid",
        ),
        case(
            "body changed",
            &[secret],
            false,
            id,
            ts.to_string(),
            reference.clone(),
            r#"{"test": 2432232315}"#,
            ts,
            "bad_signature",
        ),
        case(
            "id changed",
            &[secret],
            false,
            "msg_other",
            ts.to_string(),
            reference.clone(),
            body,
            ts,
            "bad_signature",
        ),
        case(
            "another endpoint's secret",
            &[new],
            false,
            id,
            ts.to_string(),
            reference.clone(),
            body,
            ts,
            "bad_signature",
        ),
        case(
            "rotation: signed with both, the receiver has the new",
            &[new],
            false,
            id2,
            t2.to_string(),
            format!("{} {}", v1(old, id2, t2, body2), v1(new, id2, t2, body2)),
            body2,
            NOW,
            "valid",
        ),
        case(
            "rotation: signed with the old, the receiver has both",
            &[new, old],
            false,
            id2,
            t2.to_string(),
            v1(old, id2, t2, body2),
            body2,
            NOW,
            "valid",
        ),
        case(
            "Ed25519 by the platform's key",
            &[new],
            true,
            id2,
            t2.to_string(),
            v1a(1, id2, t2, body2),
            body2,
            NOW,
            "valid",
        ),
        case(
            "Ed25519 by a key the platform does not publish",
            &[new],
            true,
            id2,
            t2.to_string(),
            v1a(3, id2, t2, body2),
            body2,
            NOW,
            "bad_signature",
        ),
        case(
            "Ed25519 without the platform's keys",
            &[new],
            false,
            id2,
            t2.to_string(),
            v1a(1, id2, t2, body2),
            body2,
            NOW,
            "bad_signature",
        ),
        case(
            "an unknown signature version only",
            &[new],
            false,
            id2,
            t2.to_string(),
            v1(new, id2, t2, body2).replacen("v1,", "v2,", 1),
            body2,
            NOW,
            "bad_signature",
        ),
        case(
            "a timestamp that is not a number",
            &[new],
            false,
            id2,
            "yesterday".into(),
            v1(new, id2, t2, body2),
            body2,
            NOW,
            "malformed",
        ),
    ];
    json!({
        "about": "Webhook deliveries (Standard Webhooks). Verify each with `secrets` (and the platform's `jwks` when `platform_keys`) as of `now`, with a tolerance of 300 s; `verdict` is `valid` or the first failing check in the order: malformed, timestamp_too_old / timestamp_too_new, bad_signature.",
        "tolerance_seconds": 300,
        "jwks": { "keys": [jwk(1), jwk(2)] },
        "cases": cases,
    })
}

fn committed(name: &str, made: &Value) -> Value {
    let path = format!("{DIR}/{name}");
    let text = serde_json::to_string_pretty(made).expect("json") + "\n";
    if std::env::var("NEXUS_WRITE_VECTORS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write vectors");
    }
    // Compared as JSON: a workspace build may keep serde_json's maps in insertion order.
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the committed vectors"))
            .expect("json");
    assert!(
        on_disk == *made,
        "{path} is not what this test makes: NEXUS_WRITE_VECTORS=1 to rewrite it"
    );
    on_disk
}

#[test]
fn context_token_vectors() {
    let vectors = committed("context-tokens.json", &context_tokens());
    let jwks = Jwks::parse(&vectors["jwks"]).expect("jwks");
    let cases = vectors["cases"].as_array().expect("cases");
    for case in cases {
        let token = case["token"].as_str().expect("token");
        let verdict = match verify_at(
            &jwks,
            token,
            ISSUER,
            AUDIENCE,
            case["now"].as_i64().expect("now"),
        ) {
            Ok(claims) => {
                assert_eq!(claims.aud, AUDIENCE);
                "valid"
            }
            Err(e) => e.code(),
        };
        assert_eq!(verdict, case["verdict"], "{}", case["name"]);
    }
}

#[test]
fn webhook_vectors() {
    let vectors = committed("webhooks.json", &webhooks());
    let jwks = Jwks::parse(&vectors["jwks"]).expect("jwks");
    for case in vectors["cases"].as_array().expect("cases") {
        let secrets: Vec<&str> = case["secrets"]
            .as_array()
            .expect("secrets")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut webhook = Webhook::new(&secrets).expect("secrets");
        if case["platform_keys"] == true {
            webhook = webhook.with_platform_keys(jwks.clone());
        }
        let text = |k: &str| case[k].as_str().expect(k);
        let verdict = match webhook.verify_at(
            text("id"),
            text("timestamp"),
            text("signature"),
            text("body").as_bytes(),
            case["now"].as_i64().expect("now"),
        ) {
            Ok(()) => "valid",
            Err(e) => e.code(),
        };
        assert_eq!(verdict, case["verdict"], "{}", case["name"]);
    }
}
