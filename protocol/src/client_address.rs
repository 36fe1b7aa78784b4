//! Who the client is. The peer of the connection, unless that peer is one of the operator's
//! trusted proxies (`router.trusted_proxies`, default: none): then the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy. Entries to the left of it were
//! written by the client and are never believed.
//!
//! The router's front door resolves it once and hands it on in `CLIENT_ADDRESS_HEADER`, which it
//! always overwrites (a client cannot set it); core subgraphs read it from there.

use std::net::IpAddr;

use ipnet::IpNet;

/// The header the router sets to the resolved client address.
pub const CLIENT_ADDRESS_HEADER: &str = "nexus-client-address";

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses or networks: `10.0.0.0/8`, `192.168.1.7`, `::1`.
    pub fn parse(entries: &[String]) -> anyhow::Result<TrustedProxies> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| anyhow::anyhow!("trusted proxy `{entry}` is not an address or a network (e.g. 10.0.0.0/8)"))
            })
            .collect::<anyhow::Result<_>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values (in order).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .rev();
        for hop in hops {
            // A hop a trusted proxy wrote but nobody can read: stop at the proxy that wrote it.
            let Some(address) = parse_hop(hop) else {
                return client;
            };
            client = address.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("203.0.113.9"), &["1.1.1.1"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.7".into()]).expect("parse");
        // The client wrote 6.6.6.6 itself; the proxies appended 198.51.100.4 and 10.1.1.1.
        assert_eq!(
            proxies.client(ip("192.168.1.7"), &["6.6.6.6, 198.51.100.4", "10.1.1.1"]),
            ip("198.51.100.4")
        );
        // An untrusted peer's header is ignored.
        assert_eq!(
            proxies.client(ip("198.51.100.4"), &["6.6.6.6"]),
            ip("198.51.100.4")
        );
        // Only trusted hops: the left-most.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &["10.0.0.2"]),
            ip("10.0.0.2")
        );
        // Ports and IPv6, and IPv4-mapped peers.
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &["198.51.100.4:80"]),
            ip("198.51.100.4")
        );
        // Garbage from behind a trusted proxy: that proxy is the client.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &["1.1.1.1, nonsense"]),
            ip("10.0.0.1")
        );
        assert!(TrustedProxies::parse(&["not a net".into()]).is_err());
    }
}
