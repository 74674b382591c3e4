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

/// The variable naming a Lambda's config file (the CDK app points it at the config layer).
pub const CONFIG_VARIABLE: &str = "DRCTL_CONFIG";

/// The topology from `DRCTL__…` environment variables (a Lambda has no config file), or
/// from the file named by [`CONFIG_VARIABLE`] with the variables as overrides.
pub fn topology_from_env() -> Result<Topology, ConfigError> {
    match std::env::var_os(CONFIG_VARIABLE) {
        Some(path) => Topology::load(std::path::Path::new(&path)),
        None => Topology::parse("", "environment", std::env::vars()),
    }
}

/// When an invocation's time is up, on the monotonic clock the use cases' deadlines use. Lambda
/// gives the deadline in epoch milliseconds; a value in the past cannot be one
/// (cargo-lambda's local emulator sends its timeout, 600000, there), so then assume
/// `fallback` from now.
pub fn invocation_deadline(deadline_ms: u64, fallback: std::time::Duration) -> std::time::Instant {
    let given = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(deadline_ms);
    if let Ok(left) = given.duration_since(std::time::SystemTime::now()) {
        std::time::Instant::now() + left
    } else {
        tracing::warn!(
            deadline_ms,
            ?fallback,
            "no usable invocation deadline; assuming the fallback"
        );
        std::time::Instant::now() + fallback
    }
}

/// The end of a scheduled Lambda's invocation: the report's details logged, its figures
/// published as EMF lines, and its JSON summary returned; or, when it `failed`, the failure
/// logged and returned as the invocation's error, so Lambda's Errors metric and alarm fire.
pub fn finish(
    function: &str,
    report: &impl dr_core::report::Report,
    failed: Option<String>,
) -> Result<serde_json::Value, String> {
    log_report(report);
    dr_core::report::emf::emit(function, report, dr_core::time::now_millis());
    match failed {
        Some(error) => {
            tracing::error!(%error, "the invocation failed");
            Err(error)
        }
        None => Ok(dr_core::report::json::render(report)),
    }
}

/// A report's details (drifts found, repairs that failed…) as log lines, one per detail:
/// its figures go out as metrics, its details are what a person reads in the logs.
pub fn log_report(report: &impl dr_core::report::Report) {
    fn walk(section: &dr_core::report::Section) {
        for detail in &section.details {
            match detail.kind {
                "failed" => {
                    tracing::warn!(subject = %detail.subject, kind = detail.kind, "{}", detail.text)
                }
                _ => {
                    tracing::info!(subject = %detail.subject, kind = detail.kind, "{}", detail.text)
                }
            }
        }
        section.children.iter().for_each(walk);
    }
    report.sections().iter().for_each(walk);
}
