use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// apollo-router warns on every (re)start of its HTTP server about a metric Nexus does not use.
const DEFAULT_LOG_FILTER: &str =
    "info,apollo_router=warn,apollo_router::axum_factory::axum_http_server_factory=error,sqlx=warn";

/// Logs on stderr (stdout is for what a command prints: URLs, `compose --output -`): readable
/// lines, coloured only on a terminal (and never with `NO_COLOR`), or one JSON object per line
/// with `NEXUS_LOG_FORMAT=json`. `RUST_LOG` overrides the filter.
fn init_logs() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = std::env::var("NEXUS_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.json().with_current_span(false).init();
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        logs.with_ansi(colour).init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logs();
    let cli = nexus::cli::Cli::parse();
    match nexus::commands::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One clear line, not a panic or a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
