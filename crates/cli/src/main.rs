//! `drctl`: the operator's tool for the IoT disaster-recovery control plane.
//!
//! Each subcommand lives in `commands/`; this file parses the command line, loads the
//! topology once and maps failures to exit codes an operator's script can rely on:
//! 0 success; 1 the operation failed (for `status` and `readiness`: something could not be
//! read, or needs attention); 2 usage error; 3 configuration error; 4 `readiness`: DR's own
//! checks pass, but primary could not be read to compare with. Every AWS call is
//! bounded by drctl's timeouts (`[timeouts.drctl]`), so a hung region costs seconds.

mod commands;
mod output;
mod plain;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dr_core::Topology;

/// Keep an AWS IoT fleet alive when its region fails: status, drills, failover.
#[derive(Debug, Parser)]
#[command(name = "drctl", version, about)]
struct Cli {
    /// The topology config (TOML). DRCTL__SECTION__KEY variables override its values.
    #[arg(
        long,
        global = true,
        env = "DRCTL_CONFIG",
        default_value = "config/sandbox.toml"
    )]
    config: PathBuf,

    /// The AWS profile whose credentials assume the control-plane roles (the roles and
    /// regions themselves come from the config: a region flag would contradict it; override
    /// a value with DRCTL__DR__REGION and the like instead).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    profile: Option<String>,

    /// Say more: the SDK's warnings and each failure's whole chain of causes (by default a
    /// failure is one line: side, region, service, cause).
    #[arg(long, short, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One screen: which side serves, health, certificates, replication, snapshots.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = output::Output::Table)]
        output: output::Output,
    },
    /// A failover drill that never touches production routing: restore to scratch,
    /// compare certificates, flip the drill record, tear down, write a timed report.
    Drill(commands::drill::DrillArgs),
    /// Is DR ready to take over? Replication resources, CAs, policies, domains, alarm.
    Readiness {
        /// Output format.
        #[arg(long, value_enum, default_value_t = output::Output::Table)]
        output: output::Output,
    },
    /// The replication dead-letter queue: list (with why), replay.
    #[command(subcommand)]
    Dlq(commands::dlq::DlqCommand),
    /// Diff the certificate registries of both sides; `--apply` repairs the target.
    Reconcile(commands::reconcile::ReconcileArgs),
    /// Database snapshots: status, take one now, restore in DR.
    #[command(subcommand)]
    Snapshot(commands::snapshot::SnapshotCommand),
    /// Show which account and role each side resolves to (checks the AssumeRole setup).
    Whoami,
    /// Fail over to DR now: restore the database there, flip traffic, notify, audit.
    Failover(commands::failover::FailoverArgs),
    /// Hold automatic failover (the health checker keeps probing and counting).
    Hold(commands::failover::HoldArgs),
    /// Release the hold: automatic failover is armed again.
    Release,
    /// Fail back to primary, once it has been healthy long enough and a DR → primary
    /// reconcile has run.
    Failback(commands::failover::FailbackArgs),
    /// The topology as drctl reads it: `export --json` prints the contract the CDK app
    /// deploys from (no AWS call).
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(profile) = &cli.profile {
        // Read by the SDK's default credential chain. Set before the runtime starts any
        // thread, so no other thread can be reading the environment.
        std::env::set_var("AWS_PROFILE", profile);
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("drctl: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    // The SDK's own log lines (a refused AssumeRole, a retry) repeat, in Debug form, what
    // drctl says in one line; they stay off an operator's terminal unless asked for.
    let default_filter = if cli.verbose {
        "info,aws_config=warn,aws_smithy_runtime=warn"
    } else {
        "off,drctl=warn,dr_aws=warn,dr_core=warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let verbose = cli.verbose;
    let topology = match Topology::load(&cli.config) {
        Ok(topology) => topology,
        Err(e) => {
            eprintln!("drctl: {e}");
            return ExitCode::from(3);
        }
    };
    let result = match cli.command {
        Command::Reconcile(args) => commands::reconcile::run(args, &topology).await,
        Command::Snapshot(command) => commands::snapshot::run(command, &topology).await,
        Command::Whoami => commands::whoami::run(&topology).await,
        Command::Drill(args) => commands::drill::run(args, &topology).await,
        Command::Readiness { output } => commands::readiness::run(output, &topology).await,
        Command::Dlq(command) => commands::dlq::run(command, &topology).await,
        Command::Status { output } => commands::status::run(output, &topology).await,
        Command::Failover(args) => commands::failover::failover(args, &topology).await,
        Command::Hold(args) => commands::failover::hold(args, &topology).await,
        Command::Release => commands::failover::release(&topology).await,
        Command::Failback(args) => commands::failover::failback(args, &topology).await,
        Command::Config(command) => commands::config::run(command, &topology),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drctl: {}", plain::first_line(&format!("{e:#}")));
            if verbose {
                eprintln!("drctl: the whole error: {e:?}");
                if let Some(identity) = e.downcast_ref::<dr_aws::identity::IdentityError>() {
                    eprintln!("drctl: the SDK's error: {}", identity.debug);
                }
            }
            match e.downcast_ref::<Exit>() {
                Some(exit) => ExitCode::from(exit.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// A failure with an exit code of its own, for an operator's script to tell cases apart.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Exit {
    code: u8,
    message: String,
}

impl Exit {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
