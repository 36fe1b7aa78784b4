//! Who the client is. The peer of the connection, unless that peer is one of the operator's
//! trusted proxies (`router.trusted_proxies`, default: none): then the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy. Entries to the left of it were
//! written by the client and are never believed.
//!
//! The router's front door resolves it once and hands it on in `CLIENT_ADDRESS_HEADER`, which it
//! always overwrites (a client cannot set it); core subgraphs read it from there. The value is
//! sealed with a MAC under the deployment's key (`seal`): whoever reaches a subgraph's port
//! directly cannot choose the address that subgraph rate-limits and audits by (`open`).

use std::net::IpAddr;

use ipnet::IpNet;

/// The header the router sets to the resolved client address.
pub const CLIENT_ADDRESS_HEADER: &str = "nexus-client-address";

/// `address` as the front door hands it on: `{address} {mac}`.
pub fn seal(keys: &crate::token::KeyStore, address: &str) -> anyhow::Result<String> {
    Ok(format!("{address} {}", keys.mac(&sealed_message(address))?))
}

/// The address in a `seal`ed value, if its MAC is good; `None` for anything else (a value a
/// client or another host wrote, or none at all).
pub fn open(keys: &crate::token::KeyStore, value: &str) -> Option<String> {
    let (address, tag) = value.trim().split_once(' ')?;
    keys.mac_matches(&sealed_message(address), tag)
        .then(|| address.to_owned())
}

/// The address in a value the front door wrote, for the router's own plugins (the front door
/// replaced whatever the client sent, so there is nothing to check).
pub fn address_part(value: &str) -> &str {
    value.trim().split(' ').next().unwrap_or_default()
}

fn sealed_message(address: &str) -> Vec<u8> {
    format!("nexus-client-address\0{address}").into_bytes()
}

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
    fn a_sealed_address_opens_only_with_its_mac() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = crate::token::KeyStore::open_or_create(&dir.path().join("keys.json"), "nexus")
            .expect("keys");
        let sealed = seal(&keys, "203.0.113.9").expect("seal");
        assert_eq!(address_part(&sealed), "203.0.113.9");
        assert_eq!(open(&keys, &sealed).as_deref(), Some("203.0.113.9"));
        let (_, tag) = sealed.split_once(' ').expect("tag");
        assert_eq!(open(&keys, &format!("198.51.100.1 {tag}")), None);
        assert_eq!(open(&keys, "203.0.113.9"), None);
        assert_eq!(open(&keys, "203.0.113.9 nope.nope"), None);
        let other = tempfile::tempdir().expect("tempdir");
        let stranger =
            crate::token::KeyStore::open_or_create(&other.path().join("keys.json"), "nexus")
                .expect("keys");
        assert_eq!(open(&stranger, &sealed), None);
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
