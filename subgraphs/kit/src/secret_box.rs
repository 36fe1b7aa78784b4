//! Secrets the platform must read back (TOTP seeds, webhook signing secrets), encrypted at rest:
//! AES-256-GCM with a key from the secrets key file (`secrets_file`, default
//! `data_dir/secret-keys.json`; created in development like the signing keys), bound to the row
//! it belongs to (a `context` such as `two_factor:{user}` is the associated data, so a value
//! copied into another row does not open). Stored as `enc:v1:{key id}:{base64url(nonce ‖
//! ciphertext)}`; a value without that prefix is one written before encryption and reads as it
//! is, until `nexus secrets reencrypt` seals it.
//!
//! Rotation (`nexus secrets rotate`) adds a key that seals from then on; older keys still open
//! what they sealed until `nexus secrets reencrypt` has moved every value to the newest key and
//! an operator deletes them from the file. A process that meets a key id it does not know reads
//! the file again (another process rotated a moment ago).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "enc:v1:";

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    /// Eight hex digits: short, because the sealed value must fit the columns it replaces.
    kid: String,
    /// Base64url of 32 random bytes.
    key: String,
    created_at: DateTime<Utc>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

struct LoadedKey {
    kid: String,
    key: LessSafeKey,
}

/// The keys of the secrets key file; the last one seals.
pub struct SecretBox {
    path: PathBuf,
    keys: RwLock<Vec<LoadedKey>>,
}

impl SecretBox {
    /// Opens the key file, creating it with a fresh key if it does not exist (development).
    pub fn open_or_create(path: &Path) -> anyhow::Result<Arc<SecretBox>> {
        if !path.exists() {
            write_key_file(
                path,
                &KeyFile {
                    keys: vec![new_key()],
                },
            )?;
            tracing::info!(path = %path.display(), "generated a development key for secrets at rest");
        }
        Self::open(path)
    }

    /// Opens an existing key file (production: it comes from configuration).
    pub fn open(path: &Path) -> anyhow::Result<Arc<SecretBox>> {
        Ok(Arc::new(SecretBox {
            path: path.to_owned(),
            keys: RwLock::new(load(path)?),
        }))
    }

    /// `secret` sealed with the newest key, for the row `context` names.
    pub fn seal(&self, secret: &str, context: &str) -> anyhow::Result<String> {
        let keys = self
            .keys
            .read()
            .map_err(|_| anyhow!("secret keys poisoned"))?;
        let key = keys
            .last()
            .ok_or_else(|| anyhow!("no key in {}", self.path.display()))?;
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut sealed = secret.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow!("cannot encrypt a secret"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}:{}",
            key.kid,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// The secret in `stored` (sealed for `context`, or from before encryption).
    pub fn open_sealed(&self, stored: &str, context: &str) -> anyhow::Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (kid, data) = rest
            .split_once(':')
            .ok_or_else(|| anyhow!("a sealed secret is malformed"))?;
        let data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| anyhow!("a sealed secret is malformed"))?;
        if data.len() < NONCE_LEN {
            bail!("a sealed secret is malformed");
        }
        if !self.knows(kid) {
            self.reload();
        }
        let keys = self
            .keys
            .read()
            .map_err(|_| anyhow!("secret keys poisoned"))?;
        let key = keys.iter().find(|k| k.kid == kid).ok_or_else(|| {
            anyhow!(
                "a secret is sealed with key `{kid}`, which is not in {}",
                self.path.display()
            )
        })?;
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow!("a sealed secret is malformed"))?;
        let mut buffer = sealed.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| {
                anyhow!("a sealed secret does not open (altered, or moved from another row)")
            })?;
        String::from_utf8(plain.to_vec()).map_err(|_| anyhow!("a sealed secret is not text"))
    }

    /// `stored` (sealed with any key, or from before encryption) sealed again with the newest key.
    pub fn reseal(&self, stored: &str, context: &str) -> anyhow::Result<String> {
        self.seal(&self.open_sealed(stored, context)?, context)
    }

    /// Whether `stored` is sealed with the newest key (else `nexus secrets reencrypt` reseals it).
    pub fn is_current(&self, stored: &str) -> bool {
        let newest = self
            .keys
            .read()
            .ok()
            .and_then(|keys| keys.last().map(|k| k.kid.clone()));
        match (stored.strip_prefix(PREFIX), newest) {
            (Some(rest), Some(kid)) => rest.split_once(':').is_some_and(|(k, _)| k == kid),
            _ => false,
        }
    }

    fn knows(&self, kid: &str) -> bool {
        self.keys
            .read()
            .map(|keys| keys.iter().any(|k| k.kid == kid))
            .unwrap_or(false)
    }

    fn reload(&self) {
        match load(&self.path) {
            Ok(fresh) => {
                if let Ok(mut keys) = self.keys.write() {
                    *keys = fresh;
                }
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "keeping the old secret keys"),
        }
    }
}

/// `nexus secrets rotate`: adds a key that seals from now on; returns its id.
pub fn rotate(path: &Path) -> anyhow::Result<String> {
    let mut file = if path.exists() {
        read_key_file(path)?
    } else {
        KeyFile::default()
    };
    let key = new_key();
    let kid = key.kid.clone();
    file.keys.push(key);
    write_key_file(path, &file)?;
    Ok(kid)
}

fn new_key() -> StoredKey {
    StoredKey {
        kid: hex::encode(rand::random::<[u8; 4]>()),
        key: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()),
        created_at: Utc::now(),
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<KeyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the secrets key file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a secrets key file", path.display()))
}

fn load(path: &Path) -> anyhow::Result<Vec<LoadedKey>> {
    let file = read_key_file(path)?;
    if file.keys.is_empty() {
        bail!("{} holds no keys", path.display());
    }
    file.keys
        .iter()
        .map(|stored| {
            let bytes = URL_SAFE_NO_PAD
                .decode(&stored.key)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| {
                    anyhow!("key `{}` in {} is not 32 bytes", stored.kid, path.display())
                })?;
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| anyhow!("key `{}` is not an AES-256 key", stored.kid))?;
            Ok(LoadedKey {
                kid: stored.kid.clone(),
                key: LessSafeKey::new(key),
            })
        })
        .collect()
}

fn write_key_file(path: &Path, file: &KeyFile) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    nexus_protocol::token::write_private_file(path, &serde_json::to_string_pretty(file)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_for_their_row_only_and_survive_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret-keys.json");
        let secrets = SecretBox::open_or_create(&path).expect("open");
        let sealed = secrets
            .seal("JBSWY3DPEHPK3PXP", "two_factor:1")
            .expect("seal");
        assert!(
            sealed.starts_with("enc:v1:") && !sealed.contains("JBSWY3DP"),
            "{sealed}"
        );
        assert!(sealed.len() <= 128, "{}", sealed.len());
        assert_eq!(
            secrets.open_sealed(&sealed, "two_factor:1").expect("open"),
            "JBSWY3DPEHPK3PXP"
        );
        // Another row's value, or an altered one, does not open.
        assert!(secrets.open_sealed(&sealed, "two_factor:2").is_err());
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(secrets.open_sealed(&altered, "two_factor:1").is_err());
        // From before encryption: as it is.
        assert_eq!(secrets.open_sealed("plain", "x").expect("plain"), "plain");
        assert!(!secrets.is_current("plain") && secrets.is_current(&sealed));

        // Another process rotates: this one still opens the old value and, once it has seen
        // the new key, seals with it.
        let kid = rotate(&path).expect("rotate");
        let other = SecretBox::open(&path).expect("open again");
        let newer = other
            .seal("JBSWY3DPEHPK3PXP", "two_factor:1")
            .expect("seal");
        assert!(newer.starts_with(&format!("enc:v1:{kid}:")));
        assert_eq!(
            secrets
                .open_sealed(&newer, "two_factor:1")
                .expect("reloads"),
            "JBSWY3DPEHPK3PXP"
        );
        assert!(!other.is_current(&sealed) && other.is_current(&newer));
        let whsec = nexus_protocol::webhook_signature::new_secret();
        assert!(
            other
                .seal(&whsec, "webhook_endpoint:x")
                .expect("seal")
                .len()
                <= 128
        );
    }
}
