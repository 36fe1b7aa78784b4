//! What checking a token costs the request path since the checks moved into
//! `nexus_protocol::token_check` (one order, a clock, `iat`/`nbf` ahead refused): the key store's
//! `verify`, side by side with a reference that does not change with Nexus's code — jsonwebtoken
//! decoding and validating the same token with the same key (what `verify` did before), in one run
//! of one process.
//!
//!     token-cost [ROUNDS]

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use nexus_protocol::token::{Claims, KeyStore, TokenType, new_claims};

fn main() -> anyhow::Result<()> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let keys = KeyStore::open_or_create(&dir.path().join("signing-keys.json"), "nexus")?;
    let claims = new_claims(
        "nexus",
        "user".into(),
        TokenType::Access,
        Duration::from_secs(600),
    );
    let token = keys.sign(&claims)?;
    let jwks = keys.jwks();
    let x = jwks["keys"][0]["x"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no key in the JWKS"))?;
    let key = DecodingKey::from_ed_components(x)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["nexus"]);
    validation.set_audience(&[nexus_protocol::token::CORE_AUDIENCE]);

    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(jsonwebtoken::decode::<Claims>(&token, &key, &validation)?);
    }
    let reference = started.elapsed().as_nanos() as f64 / f64::from(rounds);

    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(keys.verify(&token, nexus_protocol::token::CORE_AUDIENCE)?);
    }
    let checked = started.elapsed().as_nanos() as f64 / f64::from(rounds);

    println!("| step | ns per token | vs reference |");
    println!("| --- | ---: | ---: |");
    println!("| jsonwebtoken decode and validate (reference) | {reference:.0} | 1.00 |");
    println!(
        "| `KeyStore::verify` (token_check) | {checked:.0} | {:.2} |",
        checked / reference.max(1e-9)
    );
    Ok(())
}
