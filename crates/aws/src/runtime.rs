//! What every Lambda does once at cold start.

use dr_core::{ConfigError, Topology};

/// JSON logs (one object per line, as CloudWatch Logs Insights likes them), level from
/// `RUST_LOG` (default `info`), no ANSI colours, no timestamps (Lambda adds its own).
pub fn init_json_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

/// The topology from `DRCTL__…` environment variables (a Lambda has no config file), or
/// from the file named by `DRCTL_CONFIG` with the variables as overrides.
pub fn topology_from_env() -> Result<Topology, ConfigError> {
    match std::env::var_os("DRCTL_CONFIG") {
        Some(path) => Topology::load(std::path::Path::new(&path)),
        None => Topology::parse("", "environment", std::env::vars()),
    }
}
