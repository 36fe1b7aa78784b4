//! Fetching an app subgraph's SDL with `{ _service { sdl } }`: http(s) only, bounded in time and
//! size, no redirects, and no private or loopback addresses unless the operator allows them
//! (`nexus dev` does). The address that was checked is the one connected to, so a DNS answer
//! cannot change between the check and the request.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::anyhow;

#[derive(Clone, Debug)]
pub struct FetchPolicy {
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
}

impl FetchPolicy {
    /// For apps on the public internet.
    pub fn public() -> Self {
        FetchPolicy {
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
            allow_private: false,
        }
    }

    /// For development, where apps run on this machine.
    pub fn allow_loopback() -> Self {
        FetchPolicy {
            allow_private: true,
            ..Self::public()
        }
    }
}

/// Why a fetch failed, with a stable code for the submission's error list.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub code: &'static str,
    pub message: String,
}

fn fetch_error(code: &'static str, message: impl Into<String>) -> FetchError {
    FetchError {
        code,
        message: message.into(),
    }
}

pub async fn fetch_sdl(url: &str, policy: &FetchPolicy) -> anyhow::Result<String> {
    fetch(url, policy).await.map_err(|e| anyhow!(e.message))
}

/// The SDL at `url`, or why not.
pub async fn fetch(url: &str, policy: &FetchPolicy) -> Result<String, FetchError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| fetch_error("SUBGRAPH_URL", format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fetch_error(
            "SUBGRAPH_URL",
            format!("`{url}` is not an http(s) URL"),
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| fetch_error("SUBGRAPH_URL", format!("`{url}` has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = tokio::time::timeout(
        policy.timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| {
        fetch_error(
            "SUBGRAPH_UNREACHABLE",
            format!("resolving `{host}` timed out"),
        )
    })?
    .map_err(|e| {
        fetch_error(
            "SUBGRAPH_UNREACHABLE",
            format!("cannot resolve `{host}`: {e}"),
        )
    })?
    .collect();
    let address = addresses
        .first()
        .copied()
        .ok_or_else(|| fetch_error("SUBGRAPH_UNREACHABLE", format!("`{host}` has no address")))?;
    if !policy.allow_private
        && let Some(private) = addresses.iter().find(|a| !is_public(a.ip()))
    {
        return Err(fetch_error(
            "SUBGRAPH_URL",
            format!(
                "`{url}` resolves to {}, a private or loopback address, which this platform does not call",
                private.ip()
            ),
        ));
    }
    let client = reqwest::Client::builder()
        .timeout(policy.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, address)
        .build()
        .map_err(|e| fetch_error("INTERNAL", format!("cannot build an HTTP client: {e}")))?;
    let unreachable = |e: reqwest::Error| {
        let what = if e.is_timeout() {
            "did not answer in time"
        } else {
            "cannot be reached"
        };
        fetch_error("SUBGRAPH_UNREACHABLE", format!("{url} {what}: {e}"))
    };
    let mut response = client
        .post(url)
        .json(&serde_json::json!({ "query": "{ _service { sdl } }" }))
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(fetch_error(
            "SUBGRAPH_UNREACHABLE",
            format!("{url} answered HTTP {}", response.status()),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        body.extend_from_slice(&chunk);
        if body.len() > policy.max_bytes {
            return Err(fetch_error(
                "SDL_TOO_LARGE",
                format!("{url} answered more than {} bytes", policy.max_bytes),
            ));
        }
    }
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| fetch_error("NOT_A_SUBGRAPH", format!("{url} did not answer JSON")))?;
    json.pointer("/data/_service/sdl")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            fetch_error(
                "NOT_A_SUBGRAPH",
                format!("{url} answered no `_service {{ sdl }}`: is it a federation subgraph?"),
            )
        })
}

/// A globally routable address: not loopback, private, link-local, shared, documentation or
/// unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(!is_public(ip), "{ip} counted as public");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(is_public(ip), "{ip} counted as private");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let err = fetch("http://127.0.0.1:9/graphql", &FetchPolicy::public())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_URL"));
        let err = fetch("http://localhost:9/graphql", &FetchPolicy::public())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_URL"));
        // Allowed, it is tried (and nothing listens on port 9).
        let err = fetch("http://127.0.0.1:9/graphql", &FetchPolicy::allow_loopback())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_UNREACHABLE"));
        let err = fetch("ftp://example.com/x", &FetchPolicy::public())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some("SUBGRAPH_URL"));
    }
}
