//! `drctl dlq list|replay`: what the replicator could not apply, and putting it back.

use clap::Subcommand;
use dr_aws::dlq::ReplicationDlq;
use dr_aws::AwsSession;
use dr_core::Topology;
use serde_json::json;

use crate::output::Output;

#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// Show the dead-lettered replication messages and why each was refused.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        max: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Move dead-lettered messages back into the replication queue (after fixing the cause).
    Replay {
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        max: usize,
        /// Also replay messages the replicator's boundary refuses (they will fail again).
        #[arg(long)]
        include_refused: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub(crate) async fn run(command: DlqCommand, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let dlq = ReplicationDlq::connect(&session, topology).await?;
    match command {
        DlqCommand::List { max, output } => {
            let letters = dlq.list(max).await?;
            match output {
                Output::Json => {
                    let rows: Vec<_> = letters
                        .iter()
                        .map(|l| {
                            json!({
                                "message_id": l.message_id, "group": l.group,
                                "receive_count": l.receive_count, "refused": l.refused, "what": l.what,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                }
                Output::Table => {
                    println!("{} message(s) in the replication DLQ", letters.len());
                    for l in &letters {
                        println!(
                            "  {}  received {}×  {}",
                            l.message_id, l.receive_count, l.what
                        );
                    }
                }
            }
        }
        DlqCommand::Replay {
            max,
            include_refused,
            yes,
        } => {
            let letters = dlq.list(max).await?;
            let refused = letters.iter().filter(|l| l.refused).count();
            anyhow::ensure!(
                refused == 0 || include_refused,
                "{refused} of {} messages are refused by the replicator's boundary and would fail again \
                 (see `drctl dlq list`); fix or drop them, or pass --include-refused",
                letters.len()
            );
            anyhow::ensure!(
                yes,
                "this moves {} message(s) back into the replication queue; pass --yes to go ahead",
                letters.len()
            );
            let moved = dlq.replay(max).await?;
            println!(
                "replayed {moved} message(s); {} left in the DLQ",
                dlq.depth().await?
            );
        }
    }
    Ok(())
}
