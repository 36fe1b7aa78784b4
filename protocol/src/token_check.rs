//! The checks a Nexus token passes, in one order and against a given clock: the key store runs
//! them on every token the platform receives, and `sdk/test-vectors/context-tokens.json` pins
//! the verdicts (each SDK gives the same on every case; `tests` below runs them here).
//!
//! jsonwebtoken alone checks neither `iat` nor `nbf` ahead of the clock and reads the clock
//! itself; so it only verifies the signature here (its `crypto::verify`), and the claims, read
//! once, are checked by hand.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Why a token is refused: the first failing check, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a JWT")]
    Malformed,
    #[error("algorithm not accepted, only EdDSA")]
    BadAlgorithm,
    #[error("signed with a key this platform does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("a token of another type")]
    WrongType,
    #[error("issued by another platform")]
    WrongIssuer,
    #[error("meant for another audience")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("not valid yet (issued or valid from a time ahead of this clock)")]
    NotYetValid,
}

impl Refusal {
    /// The verdict's name in the test vectors.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::BadAlgorithm => "bad_algorithm",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongType => "wrong_type",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
        }
    }
}

/// What a token must say to pass.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// The `typ` claim, when the caller accepts one type only.
    pub typ: Option<&'a str>,
    /// Seconds since the epoch.
    pub now: i64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
}

/// Checks `token` with the key `key_for` finds by `kid`; returns its claims.
pub fn check(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<DecodingKey>,
    expected: &Expected<'_>,
) -> Result<Value, Refusal> {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments[..] else {
        return Err(Refusal::Malformed);
    };
    let header = json_segment(header)?;
    let claims = json_segment(payload)?;
    URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refusal::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(Refusal::BadAlgorithm);
    }
    let key = header
        .get("kid")
        .and_then(Value::as_str)
        .and_then(key_for)
        .ok_or(Refusal::UnknownKey)?;
    // The signature over `header.payload`; the claims were read above, once.
    let signed = &token[..token.len() - signature.len() - 1];
    match jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, Algorithm::EdDSA) {
        Ok(true) => {}
        Ok(false) => return Err(Refusal::BadSignature),
        Err(e) => {
            return Err(match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => Refusal::BadAlgorithm,
                _ => Refusal::Malformed,
            });
        }
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if let Some(typ) = expected.typ
        && text("typ") != Some(typ)
    {
        return Err(Refusal::WrongType);
    }
    if text("iss") != Some(expected.issuer) {
        return Err(Refusal::WrongIssuer);
    }
    if text("aud") != Some(expected.audience) {
        return Err(Refusal::WrongAudience);
    }
    let (Some(exp), Some(_)) = (number("exp"), text("sub")) else {
        return Err(Refusal::Malformed);
    };
    if exp + expected.leeway < expected.now {
        return Err(Refusal::Expired);
    }
    let ahead = |t: Option<i64>| t.is_some_and(|t| t > expected.now + expected.leeway);
    if ahead(number("nbf")) || ahead(number("iat")) {
        return Err(Refusal::NotYetValid);
    }
    Ok(claims)
}

fn json_segment(segment: &str) -> Result<Value, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sdk/test-vectors/context-tokens.json"
    );

    /// The platform gives every context-token vector the verdict the SDKs give.
    #[test]
    fn gives_the_sdks_verdicts_on_the_shared_vectors() {
        let text = std::fs::read_to_string(VECTORS).expect("the vectors");
        let vectors: Value = serde_json::from_str(&text).expect("JSON");
        let keys = vectors["jwks"]["keys"].as_array().expect("keys");
        let cases = vectors["cases"].as_array().expect("cases");
        assert!(cases.len() >= 15, "{} cases", cases.len());
        for case in cases {
            let expected = Expected {
                issuer: vectors["issuer"].as_str().expect("issuer"),
                audience: vectors["audience"].as_str().expect("audience"),
                typ: Some("context"),
                now: case["now"].as_i64().expect("now"),
                leeway: vectors["leeway_seconds"].as_i64().expect("leeway"),
            };
            let key_for = |kid: &str| {
                let jwk = keys.iter().find(|k| k["kid"] == kid)?;
                DecodingKey::from_ed_components(jwk["x"].as_str()?).ok()
            };
            let verdict = match check(case["token"].as_str().expect("token"), key_for, &expected) {
                Ok(_) => "valid",
                Err(refusal) => refusal.code(),
            };
            assert_eq!(verdict, case["verdict"], "case `{}`", case["name"]);
        }
    }
}
