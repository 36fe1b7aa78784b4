//! A router in its own process follows the registry's head over HTTP: a long-polling conditional
//! GET on the apps service's `/supergraph` (`If-None-Match` + `?wait=`), so a new head arrives as
//! soon as it is published and an idle registry costs one request per wait period.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::channel::mpsc;
use nexus_protocol::internal::supergraph::FeedQuery;
use nexus_protocol::token::KeyStore;
use tokio::task::JoinHandle;

/// How long one request waits for a change; below the registry's limit of 60 s.
const WAIT: Duration = Duration::from_secs(30);
/// Back-off after a failed request, doubling up to the maximum.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// One supergraph as the registry served it.
#[derive(Clone, Debug)]
pub struct Head {
    pub etag: String,
    pub sdl: String,
}

pub struct RegistryFeed {
    client: reqwest::Client,
    url: String,
    /// Signs the service token the feed asks for.
    keys: Arc<KeyStore>,
}

impl RegistryFeed {
    /// `url`: the feed, e.g. `http://127.0.0.1:4002/supergraph`.
    pub fn new(url: String, keys: Arc<KeyStore>) -> anyhow::Result<RegistryFeed> {
        let client = reqwest::Client::builder()
            .timeout(WAIT + Duration::from_secs(15))
            .build()
            .context("HTTP client")?;
        Ok(RegistryFeed { client, url, keys })
    }

    /// The head now, retrying until the registry answers or `patience` is over.
    pub async fn current(&self, patience: Duration) -> anyhow::Result<Head> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut retry = RETRY_FIRST;
        loop {
            match self.next(None, Duration::ZERO).await {
                Ok(Some(head)) => return Ok(head),
                Ok(None) => bail!("the registry answered 304 to an unconditional request"),
                Err(e) if tokio::time::Instant::now() + retry > deadline => {
                    return Err(e.context(format!(
                        "no supergraph from the registry at {} within {} s",
                        self.url,
                        patience.as_secs()
                    )));
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %format!("{e:#}"), "waiting for the registry");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// The head if it is not `known`, waiting up to `wait` for it to change; `None` if it did not.
    pub async fn next(&self, known: Option<&str>, wait: Duration) -> anyhow::Result<Option<Head>> {
        let token = self.keys.service_token("router")?;
        let mut request = self
            .client
            .get(&self.url)
            .bearer_auth(token)
            .query(&FeedQuery {
                wait: wait.as_secs(),
            });
        if let Some(etag) = known {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response = request
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach the registry at {}: {e}", self.url))?;
        match response.status() {
            reqwest::StatusCode::NOT_MODIFIED => Ok(None),
            status if status.is_success() => {
                let etag = response
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("the registry's answer has no ETag"))?;
                let sdl = response.text().await.context("reading the supergraph")?;
                Ok(Some(Head { etag, sdl }))
            }
            status => {
                let text = response.text().await.unwrap_or_default();
                bail!("the registry answered {status}: {}", text.trim())
            }
        }
    }

    /// Pushes every new head after `from` into `publisher` until the router stops.
    pub fn follow(self, from: Head, publisher: mpsc::UnboundedSender<String>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut etag = from.etag;
            let mut retry = RETRY_FIRST;
            loop {
                match self.next(Some(&etag), WAIT).await {
                    Ok(Some(head)) => {
                        retry = RETRY_FIRST;
                        tracing::info!(etag = %head.etag, "new supergraph from the registry");
                        etag = head.etag;
                        if publisher.unbounded_send(head.sdl).is_err() {
                            return;
                        }
                    }
                    Ok(None) => retry = RETRY_FIRST,
                    Err(e) => {
                        if publisher.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %format!("{e:#}"), "following the registry; the current supergraph keeps serving");
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                }
                if publisher.is_closed() {
                    return;
                }
            }
        })
    }
}
