//! How a webhook worker works: its polling, time limits, retries, concurrency and retention
//! (`[webhooks]` in the configuration).

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Settings {
    /// How often an idle worker looks for new events and due deliveries.
    pub poll_interval: Duration,
    /// One attempt's time limit.
    pub timeout: Duration,
    /// Waits between attempts; when they run out the delivery has failed.
    pub schedule: Vec<Duration>,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// An endpoint failing every attempt this long is disabled.
    pub disable_after: Duration,
    /// Deliveries of one app in flight at once, per worker.
    pub per_endpoint: usize,
    /// Events fanned out and deliveries claimed per round.
    pub batch: u64,
    /// How long a claimed delivery is a worker's (longer than `timeout`).
    pub lease: Duration,
    /// How long finished deliveries (and their attempts) are kept.
    pub retention: Duration,
    /// Deliver to loopback and private addresses (development).
    pub allow_private: bool,
    /// The router's GraphQL URL, where events' payload queries run as the installation.
    pub graphql_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Settings {
            poll_interval: Duration::from_millis(200),
            timeout: Duration::from_secs(15),
            schedule: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ],
            max_retry_after: minutes(600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            per_endpoint: 16,
            batch: 64,
            lease: Duration::from_secs(60),
            retention: Duration::from_secs(14 * 24 * 3600),
            allow_private: false,
            graphql_url: None,
        }
    }
}
