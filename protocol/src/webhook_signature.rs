//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): the signed content is
//! `{webhook-id}.{webhook-timestamp}.{body}`; `v1,<base64 HMAC-SHA256>` with the endpoint's
//! `whsec_` secret, and `v1a,<base64 Ed25519>` with the platform's signing key (published in the
//! JWKS), all in one space-separated `webhook-signature` header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";
/// How far a receiver should accept a timestamp from its own clock (the spec's advice).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

fn secret_bytes(secret: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|e| format!("not a webhook secret: {e}"))
}

pub fn signed_content(id: &str, timestamp: i64, body: &str) -> String {
    format!("{id}.{timestamp}.{body}")
}

/// `v1,<base64 HMAC-SHA256 of the signed content>`.
pub fn hmac_signature(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_bytes(secret)?)
        .map_err(|e| format!("not a webhook secret: {e}"))?;
    mac.update(signed_content(id, timestamp, body).as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// `v1a,<base64 Ed25519 signature>`.
pub fn ed25519_signature(signature: &[u8; 64]) -> String {
    format!("v1a,{}", STANDARD.encode(signature))
}

/// Whether `header` (a `webhook-signature` value) carries a valid `v1` signature for `secret`,
/// and the timestamp is within `TOLERANCE_SECONDS` of `now`.
pub fn verify_hmac(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &str,
    header: &str,
    now: i64,
) -> bool {
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return false;
    }
    let Ok(expected) = hmac_signature(secret, id, timestamp, body) else {
        return false;
    };
    header
        .split(' ')
        .any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example in the Standard Webhooks specification's reference implementations.
    #[test]
    fn signs_as_the_reference_implementations_do() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1614265330;
        let body = r#"{"test": 2432232314}"#;
        let signature = hmac_signature(secret, id, timestamp, body).expect("signs");
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let header = format!("v1,bm90IGl0 {signature}");
        assert!(verify_hmac(
            secret,
            id,
            timestamp,
            body,
            &header,
            timestamp + 10
        ));
        assert!(!verify_hmac(
            secret, id, timestamp, "{}", &header, timestamp
        ));
        assert!(!verify_hmac(
            secret,
            id,
            timestamp,
            body,
            &header,
            timestamp + 301
        ));
        assert!(!verify_hmac(
            "whsec_AAAA",
            id,
            timestamp,
            body,
            &header,
            timestamp
        ));
    }

    /// The platform signs as the shared vectors expect: every case's verdict, judged with the
    /// platform's own HMAC and its Ed25519 keys' check, is the SDKs' verdict.
    #[test]
    fn gives_the_sdks_verdicts_on_the_shared_vectors() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use ed25519_dalek::{Signature, VerifyingKey};
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sdk/test-vectors/webhooks.json"
        );
        let vectors: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("JSON");
        let tolerance = vectors["tolerance_seconds"].as_i64().expect("tolerance");
        assert_eq!(tolerance, TOLERANCE_SECONDS);
        let keys: Vec<VerifyingKey> = vectors["jwks"]["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| {
                let x = URL_SAFE_NO_PAD
                    .decode(k["x"].as_str().expect("x"))
                    .expect("base64url");
                VerifyingKey::from_bytes(&x.try_into().expect("32 bytes")).expect("a key")
            })
            .collect();
        let cases = vectors["cases"].as_array().expect("cases");
        for case in cases {
            let text = |name: &str| case[name].as_str().expect(name).to_owned();
            let (id, body, header) = (text("id"), text("body"), text("signature"));
            let now = case["now"].as_i64().expect("now");
            let verdict = match text("timestamp").parse::<i64>() {
                Err(_) => "malformed",
                Ok(t) if now - t > tolerance => "timestamp_too_old",
                Ok(t) if t - now > tolerance => "timestamp_too_new",
                Ok(t) => {
                    let secrets = case["secrets"].as_array().expect("secrets");
                    let by_secret = secrets.iter().any(|s| {
                        verify_hmac(s.as_str().expect("secret"), &id, t, &body, &header, now)
                    });
                    let content = signed_content(&id, t, &body);
                    let by_platform = case["platform_keys"] == true
                        && header
                            .split(' ')
                            .filter_map(|c| c.strip_prefix("v1a,"))
                            .any(|sig| {
                                STANDARD
                                    .decode(sig)
                                    .ok()
                                    .and_then(|bytes| Signature::from_slice(&bytes).ok())
                                    .is_some_and(|sig| {
                                        keys.iter().any(|k| {
                                            k.verify_strict(content.as_bytes(), &sig).is_ok()
                                        })
                                    })
                            });
                    if by_secret || by_platform {
                        "valid"
                    } else {
                        "bad_signature"
                    }
                }
            };
            assert_eq!(verdict, case["verdict"], "case `{}`", case["name"]);
        }
    }
}
