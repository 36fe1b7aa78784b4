//! Rate limits as token buckets, shared by every replica through Redis (`redis_url`), or held in
//! this process (`nexus dev`, one process). The router charges each operation's estimated cost to
//! the caller's bucket; identity and licensing use the same buckets for logins, sign-ups and
//! anonymous license checks.
//!
//! - Keys are hashed (`key`): whatever a caller sends, a key is 27 bytes (after the Redis
//!   prefix, `redis_key_prefix`).
//! - Memory is bounded: the in-process store keeps at most `MEMORY_KEYS` buckets (the least
//!   recently used go first, and a forgotten bucket starts full again); in Redis each bucket
//!   expires once it would be full again.
//! - When Redis fails (down, slow: each call waits at most `REDIS_TIMEOUT`), the verdict follows
//!   `OnStoreError`: let the request through (default: a rate-limit outage is not an outage of
//!   the platform) or refuse it. Either way one line is logged (at most once per 10 seconds) and
//!   nothing panics.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use fred::types::{ClusterHash, CustomCommand};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Buckets the in-process store keeps.
pub const MEMORY_KEYS: u64 = 100_000;
/// How long a call to Redis may take before the store counts as failing.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// A budget: up to `capacity` units at once, refilled at `capacity` per `per_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub capacity: u64,
    pub per_seconds: u64,
}

impl Bucket {
    pub const fn new(capacity: u64, per_seconds: u64) -> Bucket {
        Bucket {
            capacity,
            per_seconds,
        }
    }

    /// Units refilled per millisecond.
    fn rate(&self) -> f64 {
        self.capacity as f64 / (self.per_seconds.max(1) as f64 * 1000.0)
    }
}

/// What taking from a bucket answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Units left after this request.
    pub remaining: u64,
    /// When refused: how long until the request would fit.
    pub retry_after: Duration,
    /// How long until the bucket is full again.
    pub reset: Duration,
}

/// What to do when the shared store cannot be asked.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// Let the request through (and log).
    #[default]
    Allow,
    /// Refuse the request (and log).
    Refuse,
}

#[derive(Clone)]
pub struct RateLimits {
    store: Store,
    on_error: OnStoreError,
    last_complaint: Arc<Mutex<Option<Instant>>>,
}

#[derive(Clone)]
enum Store {
    Memory(moka::sync::Cache<String, Arc<Mutex<Level>>>),
    /// The client, the prefix of every key (several platforms can share one Redis), and the
    /// units this process has leased.
    Redis(fred::clients::Client, Arc<str>, Leases),
}

/// Units taken from a Redis bucket ahead of time and spent here: one round trip per lease, not
/// per request. A lease is `1 / LEASE_FRACTION` of the bucket and lasts `LEASE_FOR`; what is left
/// unspent then is lost (never granted twice), so a replica under-uses the budget by at most a
/// lease per key per `LEASE_FOR`. Buckets too small to split (a login's 5) are asked every time.
type Leases = moka::sync::Cache<String, Arc<Mutex<Lease>>>;

pub const LEASE_FRACTION: u64 = 50;
pub const LEASE_FOR: Duration = Duration::from_secs(1);

struct Lease {
    units: i64,
    /// What Redis said was left when the lease was taken.
    remaining: u64,
    reset: Duration,
}

/// A bucket's level at an instant.
struct Level {
    units: f64,
    at: Instant,
}

/// A bucket's key: the kind of limit and what it counts (a user id, an address, an email),
/// hashed, so a caller-chosen string never becomes a long key.
pub fn key(kind: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(kind.as_bytes());
    for part in parts {
        hash.update([0u8]);
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("rl:{hex}")
}

impl RateLimits {
    /// Buckets in this process only.
    pub fn in_memory() -> RateLimits {
        RateLimits {
            store: Store::Memory(
                moka::sync::Cache::builder()
                    .max_capacity(MEMORY_KEYS)
                    .time_to_idle(Duration::from_secs(3600))
                    .build(),
            ),
            on_error: OnStoreError::Allow,
            last_complaint: Default::default(),
        }
    }

    /// Buckets in the Redis at `url` (`redis://host:port/db`), shared by every replica, under
    /// keys starting with `prefix`. Connects in the background and reconnects forever: a Redis
    /// that is down at start is a failing store (see `OnStoreError`), not a failed start.
    pub fn redis(url: &str, prefix: &str, on_error: OnStoreError) -> anyhow::Result<RateLimits> {
        let config =
            Config::from_url(url).map_err(|e| anyhow::anyhow!("invalid redis_url: {e}"))?;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = REDIS_TIMEOUT)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the Redis client: {e}"))?;
        // The connection task runs on its own (dropping its handle does not stop it).
        drop(client.connect());
        Ok(RateLimits {
            store: Store::Redis(
                client,
                Arc::from(prefix),
                moka::sync::Cache::builder()
                    .max_capacity(MEMORY_KEYS)
                    .time_to_live(LEASE_FOR)
                    .build(),
            ),
            on_error,
            last_complaint: Default::default(),
        })
    }

    /// `redis_url` if set, else in memory.
    pub fn from_url(
        redis_url: Option<&str>,
        prefix: &str,
        on_error: OnStoreError,
    ) -> anyhow::Result<RateLimits> {
        match redis_url {
            Some(url) => RateLimits::redis(url, prefix, on_error),
            None => Ok(RateLimits::in_memory()),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self.store, Store::Redis(..))
    }

    /// Takes `weight` units from `key`'s bucket if they are there. A weight over the bucket's
    /// capacity takes the whole bucket (so an expensive request is possible, once).
    pub async fn take(&self, key: &str, weight: u64, bucket: Bucket) -> Verdict {
        let weight = i64::try_from(weight.min(bucket.capacity)).unwrap_or(i64::MAX);
        let answered = match &self.store {
            Store::Memory(buckets) => Ok(take_in_memory(buckets, key, weight, bucket)),
            Store::Redis(client, prefix, leases) => {
                let key = format!("{prefix}:{key}");
                take_leased(client, leases, &key, weight, bucket).await
            }
        };
        match answered {
            Ok(verdict) => verdict,
            Err(e) => {
                self.complain(&e);
                Verdict {
                    allowed: self.on_error == OnStoreError::Allow,
                    remaining: 0,
                    retry_after: Duration::from_secs(1),
                    reset: Duration::from_secs(1),
                }
            }
        }
    }

    /// Gives `weight` units back (up to the capacity): a login that succeeded no longer counts
    /// against its address.
    pub async fn give_back(&self, key: &str, weight: u64, bucket: Bucket) {
        let refund = -i64::try_from(weight.min(bucket.capacity)).unwrap_or(i64::MAX);
        let _ = match &self.store {
            Store::Memory(buckets) => Ok(take_in_memory(buckets, key, refund, bucket)),
            Store::Redis(client, prefix, _) => {
                let key = format!("{prefix}:{key}");
                tokio::time::timeout(REDIS_TIMEOUT, take_in_redis(client, &key, refund, bucket))
                    .await
                    .unwrap_or_else(|_| Err("timeout".into()))
            }
        };
    }

    fn complain(&self, error: &str) {
        let Ok(mut last) = self.last_complaint.lock() else {
            return;
        };
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::error!(
                error,
                on_error = ?self.on_error,
                "the rate-limit store (Redis) is failing; requests are {} meanwhile",
                if self.on_error == OnStoreError::Allow { "let through" } else { "refused" }
            );
        }
    }
}

/// `weight` units from this process's lease on `key`, or from Redis (taking a new lease when the
/// bucket is large enough to split).
async fn take_leased(
    client: &fred::clients::Client,
    leases: &Leases,
    key: &str,
    weight: i64,
    bucket: Bucket,
) -> Result<Verdict, String> {
    let lease_size = i64::try_from(bucket.capacity / LEASE_FRACTION).unwrap_or(i64::MAX);
    let ask = async |units: i64| {
        tokio::time::timeout(REDIS_TIMEOUT, take_in_redis(client, key, units, bucket))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {REDIS_TIMEOUT:?}")))
    };
    if lease_size <= weight {
        return ask(weight).await;
    }
    if let Some(lease) = leases.get(key)
        && let Ok(mut lease) = lease.lock()
        && lease.units >= weight
    {
        lease.units -= weight;
        return Ok(Verdict {
            allowed: true,
            remaining: lease.remaining + lease.units.max(0) as u64,
            retry_after: Duration::ZERO,
            reset: lease.reset,
        });
    }
    let leased = ask(weight.saturating_add(lease_size)).await?;
    if !leased.allowed {
        // Not enough for a lease: maybe enough for this request alone.
        return ask(weight).await;
    }
    leases.insert(
        key.to_owned(),
        Arc::new(Mutex::new(Lease {
            units: lease_size,
            remaining: leased.remaining,
            reset: leased.reset,
        })),
    );
    Ok(Verdict {
        remaining: leased.remaining + lease_size as u64,
        ..leased
    })
}

/// Takes `weight` units (a negative weight gives them back).
fn take_in_memory(
    buckets: &moka::sync::Cache<String, Arc<Mutex<Level>>>,
    key: &str,
    weight: i64,
    bucket: Bucket,
) -> Verdict {
    let now = Instant::now();
    let level = buckets.get_with_by_ref(key, || {
        Arc::new(Mutex::new(Level {
            units: bucket.capacity as f64,
            at: now,
        }))
    });
    let Ok(mut level) = level.lock() else {
        return Verdict {
            allowed: true,
            remaining: 0,
            retry_after: Duration::ZERO,
            reset: Duration::ZERO,
        };
    };
    let rate = bucket.rate();
    let elapsed_ms = now.saturating_duration_since(level.at).as_secs_f64() * 1000.0;
    let units = (level.units + elapsed_ms * rate).min(bucket.capacity as f64);
    let (allowed, units, retry_ms) = if units >= weight as f64 {
        (
            true,
            (units - weight as f64).min(bucket.capacity as f64),
            0.0,
        )
    } else {
        (false, units, (weight as f64 - units) / rate)
    };
    level.units = units;
    level.at = now;
    Verdict {
        allowed,
        remaining: units.floor() as u64,
        retry_after: Duration::from_millis(retry_ms.ceil() as u64),
        reset: Duration::from_millis(((bucket.capacity as f64 - units) / rate).ceil() as u64),
    }
}

/// The same bucket, kept in a Redis hash and updated atomically by a script, on Redis's clock
/// (so replicas with skewed clocks agree).
const TAKE_SCRIPT: &str = r#"
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'units', 'at')
local units = tonumber(state[1])
local at = tonumber(state[2])
if units == nil or at == nil then
  units = capacity
  at = now
end
units = math.min(capacity, units + math.max(0, now - at) * rate)
local allowed = 0
local retry = 0
if units >= weight then
  units = math.min(capacity, units - weight)
  allowed = 1
else
  retry = math.ceil((weight - units) / rate)
end
local reset = math.ceil((capacity - units) / rate)
redis.call('HSET', KEYS[1], 'units', tostring(units), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], reset + 1000)
return { allowed, math.floor(units), retry, reset }
"#;

static SCRIPT_SHA: Mutex<Option<String>> = Mutex::new(None);

fn script_sha() -> Option<String> {
    SCRIPT_SHA.lock().ok().and_then(|sha| sha.clone())
}

async fn load_script(client: &fred::clients::Client) -> Result<String, String> {
    let command = CustomCommand::new_static("SCRIPT", ClusterHash::Random, false);
    let sha: String = client
        .custom(command, vec!["LOAD".to_owned(), TAKE_SCRIPT.to_owned()])
        .await
        .map_err(|e| e.to_string())?;
    if let Ok(mut known) = SCRIPT_SHA.lock() {
        *known = Some(sha.clone());
    }
    Ok(sha)
}

async fn eval_sha(
    client: &fred::clients::Client,
    sha: &str,
    args: &[String],
) -> Result<Vec<i64>, String> {
    let command = CustomCommand::new_static("EVALSHA", ClusterHash::Offset(2), false);
    let mut all = vec![sha.to_owned(), "1".to_owned()];
    all.extend_from_slice(args);
    client.custom(command, all).await.map_err(|e| e.to_string())
}

async fn take_in_redis(
    client: &fred::clients::Client,
    key: &str,
    weight: i64,
    bucket: Bucket,
) -> Result<Verdict, String> {
    let args = vec![
        key.to_owned(),
        bucket.capacity.to_string(),
        format!("{:.9}", bucket.rate()),
        weight.to_string(),
    ];
    // EVALSHA: the script travels (and is hashed by Redis) once, not at every request. Its SHA
    // is the same for every Redis; one that has not seen it (restarted, flushed) says NOSCRIPT.
    let sha = match script_sha() {
        Some(sha) => sha,
        None => load_script(client).await?,
    };
    let answer: Vec<i64> = match eval_sha(client, &sha, &args).await {
        Err(e) if e.contains("NOSCRIPT") => {
            let sha = load_script(client).await?;
            eval_sha(client, &sha, &args).await?
        }
        answer => answer?,
    };
    let [allowed, remaining, retry, reset] = answer[..] else {
        return Err(format!(
            "unexpected answer from the rate-limit script: {answer:?}"
        ));
    };
    Ok(Verdict {
        allowed: allowed == 1,
        remaining: remaining.max(0) as u64,
        retry_after: Duration::from_millis(retry.max(0) as u64),
        reset: Duration::from_millis(reset.max(0) as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bucket_empties_by_weight_and_refills_with_time() {
        let limits = RateLimits::in_memory();
        let bucket = Bucket::new(10, 1);
        let key = key("test", &["a"]);
        let first = limits.take(&key, 7, bucket).await;
        assert_eq!((first.allowed, first.remaining), (true, 3));
        let refused = limits.take(&key, 7, bucket).await;
        assert!(!refused.allowed);
        assert!(
            refused.retry_after > Duration::from_millis(300),
            "{refused:?}"
        );
        assert!(
            refused.retry_after <= Duration::from_millis(400),
            "{refused:?}"
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(limits.take(&key, 7, bucket).await.allowed);
        // Weights over the capacity take the whole bucket.
        let other = super::key("test", &["b"]);
        let all = limits.take(&other, 1_000, bucket).await;
        assert_eq!((all.allowed, all.remaining), (true, 0));
    }

    /// Two replicas leasing from one Redis bucket never grant more than the bucket holds, and
    /// waste at most a lease each.
    #[tokio::test]
    async fn leases_from_one_redis_bucket_never_overspend_it() {
        let Ok(url) = std::env::var("NEXUS_TEST_REDIS") else {
            eprintln!("NEXUS_TEST_REDIS is not set: leasing is not tested");
            return;
        };
        let prefix = format!("test-{}", std::process::id());
        let replicas = [
            RateLimits::redis(&url, &prefix, OnStoreError::Refuse).expect("client"),
            RateLimits::redis(&url, &prefix, OnStoreError::Refuse).expect("client"),
        ];
        // 500 units per hour (no refill to speak of), leased 10 at a time.
        let bucket = Bucket::new(500, 3600);
        let key = key("lease", &[&prefix, &format!("{:?}", Instant::now())]);
        let mut granted = 0;
        for i in 0..700 {
            if replicas[i % 2].take(&key, 1, bucket).await.allowed {
                granted += 1;
            }
        }
        assert!(granted <= 500, "{granted} granted from a bucket of 500");
        assert!(
            granted >= 480,
            "{granted}: more than a lease per replica wasted"
        );
    }

    #[test]
    fn keys_are_short_whatever_they_count() {
        let long = "x".repeat(100_000);
        let key = key("login", &[&long, "1.2.3.4"]);
        assert_eq!(key.len(), "rl:".len() + 24);
        assert_ne!(key, super::key("login", &[&long, "1.2.3.5"]));
        assert_ne!(super::key("a", &["bc"]), super::key("a", &["b", "c"]));
    }
}
