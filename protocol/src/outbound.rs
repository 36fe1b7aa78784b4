//! The one HTTP client for everything Nexus calls at an address an app names: SDL fetches,
//! health checks, the router's calls to app subgraphs (and, later, webhook deliveries).
//!
//! - The address policy (no loopback, private, link-local or otherwise non-public address,
//!   unless the operator allows them, as `nexus dev` does) is applied to the address actually
//!   connected to, at every call: the client's own resolver refuses a name that resolves to such
//!   an address, so a DNS answer that changes after submission (rebinding) reaches nothing.
//!   IP literals never reach a resolver and are checked before the call.
//! - http(s) only, no redirects, no proxies from the environment; time and size bounded.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, RequestBuilder, StatusCode};

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

/// Why a call was not made or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("`{0}` is not an http(s) URL with a host")]
    BadUrl(String),
    /// (`ip` is for the operator's logs: what a name resolved to is never told to whoever named
    /// it, or they would learn the platform's internal addresses.)
    #[error(
        "{host} resolves to an address this platform does not call (loopback, private or otherwise not public)"
    )]
    AddressRefused { host: String, ip: IpAddr },
    #[error("{0} did not answer in time")]
    Timeout(String),
    #[error("{url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered more than {max} bytes")]
    TooLarge { url: String, max: usize },
}

/// The resolver's refusal, found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to an address this platform does not call")]
struct Refused {
    host: String,
    ip: IpAddr,
}

struct PolicyResolver {
    allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
                return Err(Box::new(Refused {
                    host,
                    ip: private.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// A bounded answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: FetchPolicy,
}

impl Outbound {
    pub fn new(policy: FetchPolicy) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver {
                allow_private: policy.allow_private,
            }))
            .build()?;
        Ok(Outbound { client, policy })
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// A request to `url`, once its scheme and (for an IP literal) its address pass the policy.
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, OutboundError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| OutboundError::BadUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::BadUrl(url.to_owned()));
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(OutboundError::BadUrl(url.to_owned())),
        };
        if let Some(ip) = literal
            && !self.policy.allow_private
            && !is_public(ip)
        {
            return Err(OutboundError::AddressRefused {
                host: parsed.host_str().unwrap_or_default().to_owned(),
                ip,
            });
        }
        Ok(self.client.request(method, parsed))
    }

    /// Sends `request` and reads at most `max_bytes` of the answer.
    pub async fn send(&self, request: RequestBuilder) -> Result<Reply, OutboundError> {
        let request = request.build().map_err(|e| OutboundError::Unreachable {
            url: e.url().map(|u| u.to_string()).unwrap_or_default(),
            reason: e.to_string(),
        })?;
        let url = request.url().to_string();
        let failed = |e: reqwest::Error| classify(&url, e);
        let mut response = self.client.execute(request).await.map_err(failed)?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            body.extend_from_slice(&chunk);
            if body.len() > self.policy.max_bytes {
                return Err(OutboundError::TooLarge {
                    url,
                    max: self.policy.max_bytes,
                });
            }
        }
        Ok(Reply {
            status,
            headers,
            body: body.into(),
        })
    }
}

fn classify(url: &str, error: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return OutboundError::AddressRefused {
                host: refused.host.clone(),
                ip: refused.ip,
            };
        }
        source = e.source();
    }
    if error.is_timeout() {
        OutboundError::Timeout(url.to_owned())
    } else {
        OutboundError::Unreachable {
            url: url.to_owned(),
            reason: error.to_string(),
        }
    }
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
    async fn names_and_literals_resolving_to_private_addresses_are_refused_at_the_call() {
        let outbound = Outbound::new(FetchPolicy::public()).expect("client");
        // An IP literal: refused before any request is made.
        let literal = outbound.request(Method::GET, "http://169.254.169.254/latest");
        assert!(
            matches!(literal, Err(OutboundError::AddressRefused { .. })),
            "{literal:?}"
        );
        // A name: refused by the resolver, at connect time.
        let request = outbound
            .request(Method::GET, "http://localhost:9/")
            .expect("a name passes until it is resolved");
        let err = outbound.send(request).await.expect_err("refused");
        assert!(
            matches!(&err, OutboundError::AddressRefused { host, .. } if host == "localhost"),
            "{err:?}"
        );
        // The message names the host, never what it resolved to.
        let message = err.to_string();
        assert!(
            message.starts_with("localhost resolves to an address this platform does not call"),
            "{message}"
        );
        assert!(
            !message.contains("127.0.0.1") && !message.contains("::1"),
            "{message}"
        );

        let bad = outbound.request(Method::GET, "ftp://example.com/");
        assert!(matches!(bad, Err(OutboundError::BadUrl(_))), "{bad:?}");
    }
}
