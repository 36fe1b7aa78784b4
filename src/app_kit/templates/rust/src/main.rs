//! __NAME__: a Nexus app. `nexus app dev` starts it (see nexus.dev.toml); alone: `cargo run`.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = __CRATE__::Config::from_env();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    println!("__NAME__ listening on http://{}/graphql", listener.local_addr()?);
    axum::serve(listener, __CRATE__::router(config)).await
}
