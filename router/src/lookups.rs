//! What the router's plugins ask of the services, built once per router pipeline and shared:
//! `nexus.auth` (is an installation token's installation live? does the organization require a
//! second factor?) and `nexus.installation_gate` (is the app installed there? which role is the
//! caller told?) read one installation directory and one membership view — one cache and one
//! lookup per question, not one per plugin — and one key store.
//!
//! apollo-router builds each plugin on its own (from its own config) whenever it builds a
//! pipeline, so both find the same `Lookups` here by their shared configuration and the
//! supergraph they are built for. A new supergraph starts with fresh answers, as each plugin's
//! own caches did before; the last plugin to drop its handle frees them.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use nexus_protocol::token::KeyStore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::installations::Directory;
use crate::memberships::Memberships;

/// What both plugins are configured with to ask the services (the same in both).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupsConfig {
    /// The signing-key file (see `nexus_protocol::token`): service tokens for the lookups,
    /// context tokens, verifying callers.
    pub keys_file: String,
    /// The `iss` of every token.
    pub issuer: String,
    /// The apps subgraph's URL: installations are looked up beside it.
    pub apps_url: String,
    /// How long an answer about an installation is trusted: installs, uninstalls and
    /// suspensions take effect within it.
    #[serde(default = "defaults::installation_cache_seconds")]
    pub installation_cache_seconds: u64,
    /// identity's membership lookup: the role an app is told and the second-factor policy are
    /// identity's answer now, not the token's. Without it (tests of the plugins alone), the
    /// token's.
    #[serde(default)]
    pub membership_lookup_url: Option<String>,
    /// How long identity's answer about a membership is trusted.
    #[serde(default = "defaults::membership_cache_seconds")]
    pub membership_cache_seconds: u64,
}

pub(crate) mod defaults {
    use nexus_protocol::freshness::Freshness;

    pub fn installation_cache_seconds() -> u64 {
        Freshness::default().installations.as_secs()
    }
    pub fn membership_cache_seconds() -> u64 {
        Freshness::default().memberships.as_secs()
    }
}

pub struct Lookups {
    pub keys: Arc<KeyStore>,
    /// The client both lookups (and the API-key exchange) use.
    pub http: reqwest::Client,
    pub installations: Directory,
    /// `None` without a membership lookup URL.
    pub memberships: Option<Memberships>,
}

/// A configuration and the hash of the supergraph a pipeline is built for.
type PipelineKey = (LookupsConfig, u64);

/// The lookups of each pipeline being built or serving.
static SHARED: LazyLock<Mutex<HashMap<PipelineKey, Weak<Lookups>>>> =
    LazyLock::new(Default::default);

impl Lookups {
    /// The lookups for `config` in the pipeline built for `supergraph_sdl`: the ones another
    /// plugin of that pipeline made already, or new ones.
    pub fn shared(config: &LookupsConfig, supergraph_sdl: &str) -> Result<Arc<Lookups>, String> {
        let mut hasher = DefaultHasher::new();
        supergraph_sdl.hash(&mut hasher);
        let key = (config.clone(), hasher.finish());
        let mut shared = SHARED
            .lock()
            .map_err(|_| "the shared lookups are poisoned".to_owned())?;
        if let Some(found) = shared.get(&key).and_then(Weak::upgrade) {
            return Ok(found);
        }
        shared.retain(|_, lookups| lookups.strong_count() > 0);
        let made = Arc::new(Lookups::new(config)?);
        shared.insert(key, Arc::downgrade(&made));
        Ok(made)
    }

    fn new(config: &LookupsConfig) -> Result<Lookups, String> {
        let keys = KeyStore::open(std::path::Path::new(&config.keys_file), &config.issuer)
            .map_err(|e| format!("{e:#}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let installations = Directory::new(
            keys.clone(),
            &config.apps_url,
            http.clone(),
            Duration::from_secs(config.installation_cache_seconds),
        )?;
        let memberships = config.membership_lookup_url.clone().map(|url| {
            Memberships::new(
                keys.clone(),
                url,
                http.clone(),
                Duration::from_secs(config.membership_cache_seconds),
            )
        });
        Ok(Lookups {
            keys,
            http,
            installations,
            memberships,
        })
    }
}
