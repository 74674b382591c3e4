//! `drctl sandbox up|down|reset|status`: the local two-account world for demos and hands-on
//! work. Tests never use this; they start their own server (see `tests/sandbox/helpers.rs`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use dr_aws::AwsSession;
use dr_core::Topology;
use dr_sandbox::launcher::{self, Started};
use dr_sandbox::LauncherPaths;

#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Start the sandbox (if not running) and provision both accounts. Idempotent.
    Up(StateDir),
    /// Stop the sandbox started by `up`. Idempotent.
    Down(StateDir),
    /// Forget every resource, then provision both accounts afresh.
    Reset(StateDir),
    /// Say whether the sandbox runs, and where.
    Status(StateDir),
}

#[derive(Debug, Args)]
pub(crate) struct StateDir {
    /// Where the sandbox's pid, endpoint and log are kept.
    #[arg(long, env = "DRCTL_SANDBOX_DIR", default_value = ".sandbox")]
    state_dir: PathBuf,
}

pub(crate) async fn run(command: SandboxCommand, topology: &Topology) -> anyhow::Result<()> {
    let sandbox = topology.sandbox.as_ref().context(
        "this config has no [sandbox] section, so it points at real AWS; \
         use config/sandbox.toml for the local sandbox",
    )?;
    let paths = LauncherPaths::from_build();
    match command {
        SandboxCommand::Up(dir) => {
            let (state, started) =
                launcher::start_detached(&paths, &sandbox.endpoint, &dir.state_dir).await?;
            match started {
                Started::New => println!(
                    "sandbox  started  {} (pid {}, log {})",
                    state.endpoint,
                    state.pid,
                    state.log.display()
                ),
                Started::AlreadyRunning => {
                    println!("sandbox  running  {} (pid {})", state.endpoint, state.pid)
                }
            }
            provision_and_report(topology).await
        }
        SandboxCommand::Down(dir) => {
            match launcher::stop_detached(&dir.state_dir).await? {
                Some(state) => println!("sandbox  stopped  {} (pid {})", state.endpoint, state.pid),
                None => println!("sandbox  not running"),
            }
            Ok(())
        }
        SandboxCommand::Reset(dir) => {
            launcher::running_detached(&dir.state_dir)?
                .context("the sandbox is not running; start it with `drctl sandbox up`")?;
            launcher::reset(&sandbox.endpoint).await?;
            println!("sandbox  reset    every account emptied");
            provision_and_report(topology).await
        }
        SandboxCommand::Status(dir) => {
            match launcher::running_detached(&dir.state_dir)? {
                Some(state) => {
                    launcher::check_health(&state.endpoint).await?;
                    println!("sandbox  running  {} (pid {})", state.endpoint, state.pid);
                }
                None => println!("sandbox  not running"),
            }
            Ok(())
        }
    }
}

async fn provision_and_report(topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    for line in dr_sandbox::provision(&session, topology).await? {
        println!("{line}");
    }
    for line in super::whoami::identities(&session, topology).await? {
        println!("identity {line}");
    }
    Ok(())
}
