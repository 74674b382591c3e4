//! `drctl-sandbox`: the local two-account world the demo and the tests run in — a moto
//! server behind a proxy that enforces the CDK app's IAM and plays regional outages, a
//! simulated fleet, and a stand-in for DR's IoT endpoint. A binary of its own so that the
//! operators' `drctl` ships none of it.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dr_core::Topology;

/// The local sandbox of the IoT disaster-recovery control plane (never real AWS).
#[derive(Debug, Parser)]
#[command(name = "drctl-sandbox", version, about)]
struct Cli {
    /// The topology config (TOML) with a `[sandbox]` section. DRCTL__SECTION__KEY
    /// variables override its values.
    #[arg(
        long,
        global = true,
        env = "DRCTL_CONFIG",
        default_value = "config/sandbox.toml"
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: commands::SandboxCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("drctl-sandbox: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        // The proxy process needs no topology: `up` gives it all it needs.
        commands::SandboxCommand::Proxy(args) => commands::proxy(&args).await,
        command => match Topology::load(&cli.config) {
            Ok(topology) => commands::run(command, &topology, &cli.config).await,
            Err(e) => {
                eprintln!("drctl-sandbox: {e}");
                return ExitCode::from(3);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drctl-sandbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}
