//! Signed tokens: Ed25519 JWTs (`EdDSA`), the key set they are signed with, and its JWKS.
//!
//! The key set is a JSON file (`{data_dir}/signing-keys.json` in development, generated on first
//! run; a mounted secret in production). Every process that verifies tokens reads the same file
//! and notices when `nexus keys rotate` changes it. Retired keys stay published until every token
//! they signed has expired.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The audience of tokens for the core API (an app's context token has the app's namespace).
pub const CORE_AUDIENCE: &str = "nexus";
/// No token lives longer than this, so a key retired this long ago verifies nothing any more.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// No signed document lives longer than this: license certificates are verified offline with
/// the published keys, so a retired key stays published (and in the key file) this long.
pub const MAX_DOCUMENT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How long a service token (one core service calling another) lives.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(60);

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECONDS: u64 = 5;

/// How often a process looks at the key file for a rotation.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How often a token with an unknown `kid` may make a process reread the key file.
const FORCED_RELOAD_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    /// A signed-in user.
    Access,
    /// An organization's API key, exchanged by the router.
    ApiKey,
    /// Minted by the router for one call to an app (`aud` = the app's namespace).
    Context,
    /// An app acting for one organization that installed it (client credentials).
    Installation,
    /// A core service calling another (`sub` = the calling service's name).
    Service,
    /// An app acting for a signed-in user in one organization that installed it, within the
    /// scopes the installation grants and the user consented to (OAuth authorization code,
    /// refresh, token exchange): `sub` = the user, `client_id` = the app, `inst`, `org`.
    Delegated,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user id (or, for API keys, the key id).
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The organization the token acts in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The role in `org`: owner, admin or member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The installation a context token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inst: Option<String>,
    pub typ: TokenType,
    /// Platform administrator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adm: bool,
    /// The app a delegated token was issued to (RFC 9068's `client_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The grant a delegated token came from (revoking the grant ends the token at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The sign-in (session) a user's access token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// How the user signed in (RFC 8176): `pwd`, plus `otp` and `mfa` with a second factor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl Claims {
    /// Signed in with a second factor (what organizations requiring two-factor sign-in ask).
    pub fn two_factor(&self) -> bool {
        self.amr.iter().any(|method| method == "mfa")
    }

    /// Says how the user signed in: a password, and a second factor or not (`amr`).
    pub fn set_sign_in(&mut self, two_factor: bool) {
        self.amr = if two_factor {
            vec!["pwd".into(), "otp".into(), "mfa".into()]
        } else {
            vec!["pwd".into()]
        };
    }

    /// The session (refresh-token family) a user's access token belongs to (`sid`).
    pub fn session(&self) -> Option<uuid::Uuid> {
        self.sid
            .as_deref()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not a valid Nexus token: {0}")]
    Invalid(String),
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// Base64url of the 32-byte Ed25519 seed.
    private_key: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    retired_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

struct LoadedKey {
    kid: String,
    signing: SigningKey,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_x: String,
    /// For MACs between Nexus's own processes (`KeyStore::mac`), derived from the seed so that
    /// it rotates with the signing key and never signs anything by itself.
    mac_key: [u8; 32],
    retired_at: Option<DateTime<Utc>>,
}

struct Loaded {
    keys: Vec<LoadedKey>,
    modified: Option<SystemTime>,
    checked: Instant,
    forced: Option<Instant>,
}

/// The signing keys of this deployment, reloaded when their file changes.
pub struct KeyStore {
    path: PathBuf,
    issuer: String,
    loaded: RwLock<Loaded>,
}

impl KeyStore {
    /// Opens the key file, creating it with a fresh key if it does not exist (development).
    pub fn open_or_create(path: &Path, issuer: &str) -> anyhow::Result<Arc<KeyStore>> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            write_key_file(
                path,
                &KeyFile {
                    keys: vec![new_key()],
                },
            )?;
            tracing::info!(path = %path.display(), "generated a development signing key");
        }
        Self::open(path, issuer)
    }

    /// Opens an existing key file (production: keys come from configuration).
    pub fn open(path: &Path, issuer: &str) -> anyhow::Result<Arc<KeyStore>> {
        let loaded = load(path)?;
        Ok(Arc::new(KeyStore {
            path: path.to_owned(),
            issuer: issuer.to_owned(),
            loaded: RwLock::new(loaded),
        }))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        self.sign_document("JWT", claims)
    }

    /// A short-lived token for core service `service` to call another core service with.
    pub fn service_token(&self, service: &str) -> anyhow::Result<String> {
        let claims = new_claims(
            &self.issuer,
            service.to_owned(),
            TokenType::Service,
            SERVICE_TOKEN_TTL,
        );
        self.sign(&claims)
    }

    /// Signs any JSON document as a compact JWS (EdDSA, the newest key, `typ` in the header):
    /// documents that are verified offline with the published keys, like license certificates.
    pub fn sign_document<T: Serialize>(&self, typ: &str, document: &T) -> anyhow::Result<String> {
        self.with_newest_key(|key| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(key.kid.clone());
            header.typ = Some(typ.to_owned());
            jsonwebtoken::encode(&header, document, &key.encoding).context("signing a document")
        })?
    }

    fn with_newest_key<T>(&self, f: impl FnOnce(&LoadedKey) -> T) -> anyhow::Result<T> {
        self.reload_if_changed();
        let loaded = self
            .loaded
            .read()
            .map_err(|_| anyhow!("key store poisoned"))?;
        let key = loaded
            .keys
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| anyhow!("no active signing key in {}", self.path.display()))?;
        Ok(f(key))
    }

    /// The id of the key new signatures are made with.
    pub fn current_key_id(&self) -> anyhow::Result<String> {
        self.with_newest_key(|key| key.kid.clone())
    }

    /// A bare Ed25519 signature of `message` with the newest key (webhooks' `v1a`, verified
    /// against the JWKS); returns the key id and the 64-byte signature.
    pub fn sign_bytes(&self, message: &[u8]) -> anyhow::Result<(String, [u8; 64])> {
        use ed25519_dalek::Signer;
        self.with_newest_key(|key| (key.kid.clone(), key.signing.sign(message).to_bytes()))
    }

    /// Whether `signature` is `kid`'s Ed25519 signature of `message`: `Some(false)` for a bad
    /// one, `None` when this store no longer knows `kid` (forgotten after rotation).
    pub fn verify_bytes(&self, kid: &str, message: &[u8], signature: &[u8]) -> Option<bool> {
        use ed25519_dalek::Verifier;
        if !self.knows(kid) {
            self.reload_now();
        }
        let loaded = self.loaded.read().ok()?;
        let key = loaded.keys.iter().find(|k| k.kid == kid)?;
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return Some(false);
        };
        Some(
            key.signing
                .verifying_key()
                .verify(message, &signature)
                .is_ok(),
        )
    }

    /// A MAC of `message` with the newest key, as `{kid}.{base64url}`: for values one Nexus
    /// process hands another through a channel that others could write to as well (the client
    /// address the public port resolved, say). Only holders of the key file can make one.
    pub fn mac(&self, message: &[u8]) -> anyhow::Result<String> {
        self.with_newest_key(|key| format!("{}.{}", key.kid, mac_with(&key.mac_key, message)))
    }

    /// Whether `tag` is a `mac` of `message` under any key this store knows (so values made
    /// just before a rotation still check).
    pub fn mac_matches(&self, message: &[u8], tag: &str) -> bool {
        let Some((kid, mac)) = tag.split_once('.') else {
            return false;
        };
        self.reload_if_changed();
        let Ok(loaded) = self.loaded.read() else {
            return false;
        };
        loaded
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .is_some_and(|key| {
                crate::webhook_signature::constant_time_eq(
                    mac_with(&key.mac_key, message).as_bytes(),
                    mac.as_bytes(),
                )
            })
    }

    /// Verifies signature (EdDSA only, by `kid`), expiry, issuer and audience.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, TokenError> {
        self.verify_as(token, audience)
    }

    /// `verify` for any claims type: documents of Nexus's own that are not API tokens (a browser
    /// session, say), told apart from them by their audience.
    pub fn verify_as<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<T, TokenError> {
        self.reload_if_changed();
        let expected = crate::token_check::Expected {
            issuer: &self.issuer,
            audience,
            typ: None,
            now: Utc::now().timestamp(),
            leeway: LEEWAY_SECONDS as i64,
        };
        let key_for = |kid: &str| {
            if !self.knows(kid) {
                // Another process may have rotated the keys a moment ago: look at the file now.
                self.reload_now();
            }
            let loaded = self.loaded.read().ok()?;
            let key = loaded.keys.iter().find(|k| k.kid == kid)?;
            Some(key.decoding.clone())
        };
        let claims =
            crate::token_check::check(token, key_for, &expected).map_err(
                |refusal| match refusal {
                    crate::token_check::Refusal::Expired => TokenError::Expired,
                    other => TokenError::Invalid(other.to_string()),
                },
            )?;
        if claims
            .get("iat")
            .and_then(serde_json::Value::as_i64)
            .is_none()
        {
            return Err(TokenError::Invalid("no `iat`".into()));
        }
        serde_json::from_value(claims).map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// The public keys, as a JWKS document: active keys and those retired less than
    /// `MAX_DOCUMENT_LIFETIME` ago (`nexus keys rotate` forgets older ones).
    pub fn jwks(&self) -> serde_json::Value {
        self.reload_if_changed();
        let Ok(loaded) = self.loaded.read() else {
            return serde_json::json!({ "keys": [] });
        };
        let keys: Vec<serde_json::Value> = loaded
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "kid": k.kid, "x": k.public_x,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    fn knows(&self, kid: &str) -> bool {
        self.loaded
            .read()
            .map(|l| l.keys.iter().any(|k| k.kid == kid))
            .unwrap_or(false)
    }

    /// Rereads the file, at most once per `FORCED_RELOAD_EVERY` (unknown `kid`s are cheap to send).
    fn reload_now(&self) {
        let Ok(mut loaded) = self.loaded.write() else {
            return;
        };
        if loaded
            .forced
            .is_some_and(|at| at.elapsed() < FORCED_RELOAD_EVERY)
        {
            return;
        }
        loaded.forced = Some(Instant::now());
        match load(&self.path) {
            Ok(fresh) => {
                let forced = loaded.forced;
                *loaded = fresh;
                loaded.forced = forced;
            }
            Err(e) => tracing::error!(error = %e, "keeping the old signing keys"),
        }
    }

    fn reload_if_changed(&self) {
        let due = self
            .loaded
            .read()
            .map(|l| l.checked.elapsed() >= RELOAD_EVERY)
            .unwrap_or(false);
        if !due {
            return;
        }
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let Ok(mut loaded) = self.loaded.write() else {
            return;
        };
        loaded.checked = Instant::now();
        if modified.is_some() && modified != loaded.modified {
            match load(&self.path) {
                Ok(fresh) => {
                    let forced = loaded.forced;
                    *loaded = fresh;
                    loaded.forced = forced;
                }
                Err(e) => tracing::error!(error = %e, "keeping the old signing keys"),
            }
        }
    }
}

/// `nexus keys rotate`: retires the active key, adds a new one, and forgets keys retired longer
/// than `MAX_DOCUMENT_LIFETIME` ago (no token or certificate they signed is valid any more).
/// Returns the new key id.
pub fn rotate(path: &Path) -> anyhow::Result<String> {
    let mut file = read_key_file(path)?;
    let now = Utc::now();
    let horizon = chrono::Duration::from_std(MAX_DOCUMENT_LIFETIME.max(MAX_TOKEN_LIFETIME))?;
    file.keys
        .retain(|k| k.retired_at.is_none_or(|at| now - at < horizon));
    for key in &mut file.keys {
        key.retired_at.get_or_insert(now);
    }
    let key = new_key();
    let kid = key.kid.clone();
    file.keys.push(key);
    write_key_file(path, &file)?;
    Ok(kid)
}

fn new_key() -> StoredKey {
    let seed: [u8; 32] = rand::random();
    StoredKey {
        kid: uuid::Uuid::now_v7().simple().to_string(),
        private_key: URL_SAFE_NO_PAD.encode(seed),
        created_at: Utc::now(),
        retired_at: None,
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<KeyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read signing keys {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a Nexus signing-key file", path.display()))
}

fn write_key_file(path: &Path, file: &KeyFile) -> anyhow::Result<()> {
    write_private_file(path, &serde_json::to_string_pretty(file)?)
}

/// Writes a file of keys, readable by its owner only: to a temporary file renamed into place,
/// so a reader never sees half a file.
pub fn write_private_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    restrict_permissions(&tmp);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path) {}

fn derive_mac_key(seed: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"nexus-mac-key\0");
    hasher.update(seed);
    hasher.finalize().into()
}

fn mac_with(key: &[u8; 32], message: &[u8]) -> String {
    use hmac::Mac;
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(message);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn load(path: &Path) -> anyhow::Result<Loaded> {
    let file = read_key_file(path)?;
    if file.keys.is_empty() {
        bail!("{} holds no signing keys", path.display());
    }
    let mut keys = Vec::with_capacity(file.keys.len());
    for stored in &file.keys {
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&stored.private_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                anyhow!(
                    "key `{}` in {} is not a 32-byte Ed25519 seed",
                    stored.kid,
                    path.display()
                )
            })?;
        let signing = SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| anyhow!("key `{}`: {e}", stored.kid))?;
        let public_x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        keys.push(LoadedKey {
            kid: stored.kid.clone(),
            signing: signing.clone(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_components(&public_x)
                .map_err(|e| anyhow!("key `{}`: {e}", stored.kid))?,
            public_x,
            mac_key: derive_mac_key(&seed),
            retired_at: stored.retired_at,
        });
    }
    Ok(Loaded {
        keys,
        modified: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        checked: Instant::now(),
        forced: None,
    })
}

/// Claims for a token issued now that lives `ttl`.
pub fn new_claims(issuer: &str, subject: String, typ: TokenType, ttl: Duration) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        iss: issuer.to_owned(),
        sub: subject,
        aud: CORE_AUDIENCE.to_owned(),
        exp: now + ttl.as_secs() as i64,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        org: None,
        role: None,
        scopes: Vec::new(),
        inst: None,
        typ,
        adm: false,
        client_id: None,
        gid: None,
        sid: None,
        amr: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Arc<KeyStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = KeyStore::open_or_create(&dir.path().join("keys.json"), "https://nexus.test")
            .expect("store");
        (dir, store)
    }

    fn claims(store: &KeyStore) -> Claims {
        new_claims(
            store.issuer(),
            "user-1".into(),
            TokenType::Access,
            Duration::from_secs(60),
        )
    }

    #[test]
    fn signs_and_verifies() {
        let (_dir, store) = store();
        let token = store.sign(&claims(&store)).expect("sign");
        let verified = store.verify(&token, CORE_AUDIENCE).expect("verify");
        assert_eq!(verified.sub, "user-1");
    }

    #[test]
    fn rejects_tampering_expiry_audience_issuer_and_alg_none() {
        let (_dir, store) = store();
        let token = store.sign(&claims(&store)).expect("sign");
        // Tampered payload: flip the subject.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
        payload["sub"] = "someone-else".into();
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(matches!(
            store.verify(&parts.join("."), CORE_AUDIENCE),
            Err(TokenError::Invalid(_))
        ));
        // alg: none
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert!(store.verify(&none, CORE_AUDIENCE).is_err());
        // Expired
        let mut expired = claims(&store);
        expired.exp = Utc::now().timestamp() - 60;
        let token = store.sign(&expired).expect("sign");
        assert_eq!(
            store.verify(&token, CORE_AUDIENCE),
            Err(TokenError::Expired)
        );
        // Audience and issuer
        let token = store.sign(&claims(&store)).expect("sign");
        assert!(store.verify(&token, "analytics").is_err());
        let other = KeyStore::open(store.path(), "https://elsewhere.test").expect("open");
        assert!(other.verify(&token, CORE_AUDIENCE).is_err());
    }

    #[test]
    fn a_rotation_by_another_process_is_picked_up_at_once() {
        let (_dir, verifier) = store();
        let signer = KeyStore::open(verifier.path(), verifier.issuer()).expect("open");
        rotate(verifier.path()).expect("rotate");
        let signer = KeyStore::open(signer.path(), signer.issuer()).expect("reopen");
        let token = signer.sign(&claims(&signer)).expect("sign");
        // `verifier` loaded the file before the rotation and has not polled it since.
        assert!(verifier.verify(&token, CORE_AUDIENCE).is_ok());
    }

    #[test]
    fn a_token_from_another_key_set_is_refused() {
        let (_a, first) = store();
        let (_b, second) = store();
        let token = second.sign(&claims(&second)).expect("sign");
        assert!(matches!(
            first.verify(&token, CORE_AUDIENCE),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_publishes_both_keys() {
        let (_dir, store) = store();
        let old = store.sign(&claims(&store)).expect("sign");
        rotate(store.path()).expect("rotate");
        let reopened = KeyStore::open(store.path(), store.issuer()).expect("open");
        assert!(reopened.verify(&old, CORE_AUDIENCE).is_ok());
        let new = reopened.sign(&claims(&reopened)).expect("sign");
        let kid = |t: &str| jsonwebtoken::decode_header(t).ok().and_then(|h| h.kid);
        assert_ne!(kid(&old), kid(&new), "new tokens use the new key");
        assert_eq!(reopened.jwks()["keys"].as_array().map(Vec::len), Some(2));
    }
}
