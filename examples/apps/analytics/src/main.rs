//! `cargo run -p nexus-example-analytics`: the analytics app on 127.0.0.1:5001.

use nexus_example_analytics::sign_in::SignInConfig;
use nexus_example_analytics::{Config, router};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let nexus = std::env::var("NEXUS_URL").unwrap_or_else(|_| "http://127.0.0.1:4000".to_owned());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:5001".to_owned());
    // "Sign in with Nexus" once the app has its client credentials (`nexus app` prints them).
    let sign_in = match (
        std::env::var("NEXUS_CLIENT_ID"),
        std::env::var("NEXUS_CLIENT_SECRET"),
    ) {
        (Ok(client_id), Ok(client_secret)) => Some(SignInConfig {
            client_id,
            client_secret,
            redirect_uri: format!("http://{listen}/callback"),
        }),
        _ => None,
    };
    let config = Config {
        jwks_url: format!("{nexus}/.well-known/jwks.json"),
        issuer: std::env::var("NEXUS_ISSUER").unwrap_or(nexus),
        sign_in,
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    println!("analytics app listening: http://{listen}/graphql");
    if config.sign_in.is_some() {
        println!("sign in with Nexus: http://{listen}/login");
    }
    axum::serve(listener, router(config)).await?;
    Ok(())
}
