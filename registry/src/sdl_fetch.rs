//! Fetching a subgraph's SDL with `{ _service { sdl } }`: bounded in time and size.

use std::time::Duration;

use anyhow::{Context, bail};

pub struct FetchPolicy {
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl FetchPolicy {
    pub fn allow_loopback() -> Self {
        FetchPolicy {
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
        }
    }
}

pub async fn fetch_sdl(url: &str, policy: &FetchPolicy) -> anyhow::Result<String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("`{url}` is not an http(s) URL");
    }
    let client = reqwest::Client::builder()
        .timeout(policy.timeout)
        .build()
        .context("cannot build HTTP client")?;
    let mut response = client
        .post(url)
        .json(&serde_json::json!({ "query": "{ _service { sdl } }" }))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered HTTP {}", response.status());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading {url}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > policy.max_bytes {
            bail!("{url}: response is larger than {} bytes", policy.max_bytes);
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("{url} did not answer JSON"))?;
    json.pointer("/data/_service/sdl")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| {
            format!("{url} answered no `_service {{ sdl }}`: is it a federation subgraph?")
        })
}
