//! License keys: 150 random bits written as `NXL-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX` in Crockford's
//! base32 (no I, L, O or U, so a key read aloud or retyped survives). A key is shown once; only
//! its SHA-256 is stored, and lookups go by that hash. A high-entropy key needs no slow hash.

use rand::RngCore;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const PREFIX: &str = "NXL";
const GROUPS: usize = 6;
const GROUP_LEN: usize = 5;

/// A new key, as shown to its issuer.
pub fn generate() -> String {
    let mut bytes = [0u8; GROUPS * GROUP_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 256 is a multiple of 32: every symbol is uniform, 5 bits each.
    let symbols: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect();
    let groups: Vec<String> = symbols
        .chunks(GROUP_LEN)
        .map(|c| c.iter().collect())
        .collect();
    format!("{PREFIX}-{}", groups.join("-"))
}

/// The key's symbols, as typed by anyone: case, dashes and spaces do not matter, and the letters
/// Crockford's base32 leaves out read as the digits they look like.
pub fn normalize(key: &str) -> String {
    let compact: String = key
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    let body = compact.strip_prefix(PREFIX).unwrap_or(&compact);
    body.chars()
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// What is stored and looked up.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(normalize(key).as_bytes()))
}

/// The last four symbols, for telling keys apart in lists.
pub fn last4(key: &str) -> String {
    let body = normalize(key);
    body[body.len().saturating_sub(4)..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_grouped_random_and_match_however_typed() {
        let key = generate();
        assert_eq!(key.len(), 3 + GROUPS * (GROUP_LEN + 1));
        assert!(key.starts_with("NXL-"));
        assert_ne!(generate(), key);
        let retyped = key.to_lowercase().replace('-', " ");
        assert_eq!(hash(&retyped), hash(&key));
        assert_eq!(hash(&key.replace('0', "O")), hash(&key));
        assert_eq!(last4(&key), key[key.len() - 4..]);
        assert_ne!(hash(&generate()), hash(&key));
    }
}
