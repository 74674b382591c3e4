//! `drctl snapshot status|now|restore`: flow C by hand.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use dr_aws::rds::RdsSnapshotStore;
use dr_aws::AwsSession;
use dr_core::snapshots::{
    decide, restore_newest, tick, Action, Blocked, DatabaseKind, Location, RestoreRequest,
    SnapshotPolicy, SnapshotStore,
};
use dr_core::Topology;
use serde_json::json;

use crate::output::Output;

#[derive(Debug, Subcommand)]
pub(crate) enum SnapshotCommand {
    /// Each protected database: newest restorable DR snapshot, RPO, copies in flight, what
    /// the controller would do next.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Take a snapshot now and drive it to DR (ticks until nothing is left to do).
    Now {
        /// Only this database (default: all).
        #[arg(long)]
        database: Option<String>,
    },
    /// Restore the newest restorable DR snapshot into a new database in DR.
    Restore {
        /// The protected database whose snapshot to restore.
        #[arg(long)]
        database: String,
        /// The name of the database to create in DR: `<database>-restore-<suffix>`.
        #[arg(long)]
        target: String,
        /// How long to wait for it to become available, in seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
}

pub(crate) async fn run(command: SnapshotCommand, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let databases = topology.snapshot_policies();
    if databases.is_empty() {
        bail!("no databases configured; add [[snapshots.databases]] to the config");
    }
    match command {
        SnapshotCommand::Status { output } => status(&session, topology, &databases, output).await,
        SnapshotCommand::Now { database } => {
            let selected: Vec<_> = databases
                .iter()
                .filter(|(_, p)| database.as_deref().is_none_or(|d| d == p.database))
                .collect();
            if selected.is_empty() {
                bail!(
                    "{} is not a configured database",
                    database.unwrap_or_default()
                );
            }
            for (kind, policy) in selected {
                let store = RdsSnapshotStore::new(&session, topology, *kind);
                snapshot_now(&store, policy).await?;
            }
            Ok(())
        }
        SnapshotCommand::Restore {
            database,
            target,
            timeout,
        } => {
            let (kind, policy) = databases
                .iter()
                .find(|(_, p)| p.database == database)
                .with_context(|| format!("{database} is not a configured database"))?;
            // What the operators' role may create (failover restores the database under its
            // own name; drills use <database>-drill-…): never another name.
            let allowed = format!("{database}-restore-");
            if !target.starts_with(&allowed) || target.len() == allowed.len() {
                bail!("--target {target}: a manual restore is named {allowed}<suffix> (the operators' role may create only those), e.g. {allowed}incident-42");
            }
            let store = RdsSnapshotStore::new(&session, topology, *kind);
            let request = RestoreRequest {
                kind: *kind,
                policy,
                target: &target,
                poll: Duration::from_secs(5),
                timeout: Duration::from_secs(timeout),
                settings: policy.restore.clone(),
                tags: Vec::new(),
            };
            eprintln!("restoring the newest DR snapshot of {database} into {target}…");
            let restored = restore_newest(
                &store,
                &request,
                dr_core::time::now_millis(),
                tokio::time::sleep,
            )
            .await?;
            println!(
                "restored  {} from {}  endpoint {}:{}  data age (RPO) {}",
                restored.target,
                restored.snapshot_id,
                restored.endpoint.address,
                restored.endpoint.port,
                dr_core::time::human(restored.rpo_ms)
            );
            Ok(())
        }
    }
}

async fn status(
    session: &AwsSession,
    topology: &Topology,
    databases: &[(DatabaseKind, SnapshotPolicy)],
    output: Output,
) -> anyhow::Result<()> {
    let rows = status_rows(session, topology, databases).await?;
    print_status(rows, output)
}

/// Per protected database: the newest restorable DR snapshot, the RPO, what is in flight.
pub(crate) async fn status_rows(
    session: &AwsSession,
    topology: &Topology,
    databases: &[(DatabaseKind, SnapshotPolicy)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let now = dr_core::time::now_millis();
    let mut rows = Vec::new();
    for (kind, policy) in databases {
        let store = RdsSnapshotStore::new(session, topology, *kind);
        let observed = store.observe(&policy.database).await?;
        let plan = decide(now, policy, &observed);
        let count = |location| {
            observed
                .iter()
                .filter(|s| s.location == location && s.managed())
                .count()
        };
        rows.push(json!({
            "database": policy.database,
            "newest_restorable": plan.newest_restorable,
            "rpo_seconds": plan.rpo_ms.map(|ms| ms / 1000),
            "copies_in_flight": plan.copies_in_flight,
            "snapshots": {"source": count(Location::Source), "regional": count(Location::Regional), "dr": count(Location::Dr)},
            "pending_actions": plan.actions.len(),
            "blocked": plan.blocked.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
    }
    Ok(rows)
}

fn print_status(rows: Vec<serde_json::Value>, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Table => {
            println!(
                "{:<24} {:<36} {:>10} {:>9} {:>17} {:>8}",
                "DATABASE",
                "NEWEST RESTORABLE IN DR",
                "RPO",
                "IN FLIGHT",
                "SRC/REGIONAL/DR",
                "PENDING"
            );
            for row in &rows {
                let counts = &row["snapshots"];
                println!(
                    "{:<24} {:<36} {:>10} {:>9} {:>17} {:>8}",
                    row["database"].as_str().unwrap_or_default(),
                    row["newest_restorable"].as_str().unwrap_or("none"),
                    row["rpo_seconds"]
                        .as_i64()
                        .map(|s| dr_core::time::human(s * 1000))
                        .unwrap_or_else(|| "-".to_owned()),
                    row["copies_in_flight"].as_u64().unwrap_or_default(),
                    format!(
                        "{}/{}/{}",
                        counts["source"], counts["regional"], counts["dr"]
                    ),
                    row["pending_actions"].as_u64().unwrap_or_default(),
                );
                for reason in row["blocked"].as_array().into_iter().flatten() {
                    println!("  blocked: {}", reason.as_str().unwrap_or_default());
                }
            }
        }
    }
    Ok(())
}

/// Force a snapshot (one tick with a zero interval), then tick until converged.
async fn snapshot_now(store: &RdsSnapshotStore, policy: &SnapshotPolicy) -> anyhow::Result<()> {
    let due = SnapshotPolicy {
        interval_ms: 0,
        ..policy.clone()
    };
    let mut current = &due;
    for round in 0..60 {
        let report = tick(store, current, dr_core::time::now_millis()).await?;
        for action in &report.done {
            println!("{:<20} {}", policy.database, describe(action));
        }
        for (action, error) in &report.failed {
            eprintln!(
                "{:<20} failed to {}: {error}",
                policy.database,
                describe(action)
            );
        }
        for reason in &report.plan.blocked {
            match reason {
                // The copy quota clears by itself: wait for copies in flight to land.
                Blocked::CopyQuota { .. } => eprintln!("{:<20} waiting: {reason}", policy.database),
                Blocked::AwsManagedKey { .. } => bail!("{}: {reason}", policy.database),
            }
        }
        current = policy;
        if report.plan.actions.is_empty() && report.plan.copies_in_flight == 0 && round > 0 {
            println!(
                "{:<20} in DR: {} (RPO {})",
                policy.database,
                report.plan.newest_restorable.as_deref().unwrap_or("none"),
                report
                    .plan
                    .rpo_ms
                    .map(dr_core::time::human)
                    .unwrap_or_else(|| "-".to_owned())
            );
            return Ok(());
        }
        if report.plan.copies_in_flight > 0
            || !report.failed.is_empty()
            || !report.plan.blocked.is_empty()
        {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
    bail!(
        "{}: not converged after 60 rounds; run `drctl snapshot status`",
        policy.database
    )
}

/// One line per action, for people.
fn describe(action: &Action) -> String {
    match action {
        Action::CreateSource { snapshot_id, .. } => {
            format!("snapshot taken in primary: {snapshot_id}")
        }
        Action::CopyToRegional {
            target_id, kms_key, ..
        } => {
            format!("copying to the DR region under {kms_key}: {target_id}")
        }
        Action::ShareWithDr {
            snapshot_id,
            account,
        } => format!("shared {snapshot_id} with {account}"),
        Action::CopyToDr {
            target_id, kms_key, ..
        } => {
            format!("DR copying into its own snapshot under {kms_key}: {target_id}")
        }
        Action::Delete {
            location,
            snapshot_id,
            reason,
        } => {
            format!("deleted {snapshot_id} ({location:?}): {reason}")
        }
    }
}
