//! `drctl config export --json`: the deployment contract the CDK app reads
//! ([`dr_aws::contract`]): the topology exactly as every binary loads it (the file, its
//! `DRCTL__` overrides, every check; a bad config has already exited 3 naming the field),
//! and the names the Rust code derives from it. Pure: no AWS call.

use anyhow::Context;
use dr_core::Topology;

/// `drctl config …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the deployment contract the CDK app reads: `drctl config export --json >
    /// contract.json`, then `cdk synth -c contract=contract.json`.
    Export {
        /// As JSON: the only format, asked for by name so that another can be added.
        #[arg(long, required = true)]
        json: bool,
    },
}

pub(crate) fn run(command: ConfigCommand, topology: &Topology) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Export { json: _ } => {
            let contract = dr_aws::contract::render(topology)
                .context("cannot write the deployment contract")?;
            print!("{contract}");
        }
    }
    Ok(())
}
