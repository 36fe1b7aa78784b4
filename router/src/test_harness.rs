//! What the router's harness tests share: small servers on loopback, the core's subgraphs, and
//! apollo-router's test harness configured with `nexus.auth` and `nexus.installation_gate`.

use std::net::SocketAddr;
use std::path::Path;

use apollo_router::TestHarness;
use apollo_router::services::router;
use nexus_registry::SubgraphSdl;
use serde_json::json;

pub const CORE: [&str; 3] = ["identity", "apps", "licensing"];

/// Serves `router` on a free loopback port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// The core's subgraphs as committed, `identity` at `identity_url` (the others unreachable).
pub fn core_subgraphs(identity_url: Option<String>) -> Vec<SubgraphSdl> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema");
    CORE.iter()
        .map(|name| SubgraphSdl {
            name: (*name).into(),
            routing_url: match (&identity_url, *name) {
                (Some(url), "identity") => url.clone(),
                _ => format!("http://127.0.0.1:9/{name}"),
            },
            sdl: std::fs::read_to_string(format!("{root}/{name}.graphql")).expect("core SDL"),
        })
        .collect()
}

/// A router over `supergraph` with Nexus's auth and gate, whose lookups are the keys in
/// `keys_file` and the apps service at `apps_service`.
pub async fn router(
    supergraph: String,
    keys_file: &Path,
    apps_service: SocketAddr,
) -> router::BoxCloneService {
    let lookups = json!({
        "keys_file": keys_file.display().to_string(),
        "issuer": "http://nexus.test",
        "apps_url": format!("http://{apps_service}/graphql"),
    });
    let configuration = json!({
        "include_subgraph_errors": { "all": true },
        "plugins": {
            "nexus.auth": {
                "lookups": lookups,
                "api_key_exchange_url": "http://127.0.0.1:9/api-keys/exchange",
                "listen": "127.0.0.1:0",
                "core_subgraphs": CORE,
            },
            "nexus.installation_gate": {
                "lookups": lookups,
                "core_subgraphs": CORE,
                "allow_private_apps": true,
            },
        },
    });
    TestHarness::builder()
        .configuration_json(configuration)
        .expect("configuration")
        .schema(Box::leak(supergraph.into_boxed_str()))
        .with_subgraph_network_requests()
        .build_router()
        .await
        .expect("router")
}
