//! snapshot-controller (scheduled): one level-triggered tick per protected database —
//! snapshot, copy to the DR region, share, DR's own copy, prune — keeping RDS's cross-Region
//! backup replication on where configured, and the RPO metric per restore source.
//!
//! A failed step is logged and retried by the next tick; a database that cannot even be
//! observed fails the invocation, so Lambda's error metric and alarm fire.

use std::collections::HashMap;

use anyhow::Context;
use dr_aws::backups::RdsReplicatedBackups;
use dr_aws::metrics::MetricLine;
use dr_aws::rds::RdsSnapshotStore;
use dr_aws::{runtime, AwsSession};
use dr_core::snapshots::{
    ensure_backup_replication, tick, Blocked, DatabaseKind, ReplicationState, SnapshotPolicy,
    REPLICATED_BACKUPS, SNAPSHOT_COPY,
};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

struct Deps {
    databases: Vec<(DatabaseKind, SnapshotPolicy)>,
    stores: HashMap<&'static str, RdsSnapshotStore>,
    replicated: RdsReplicatedBackups,
}

fn blocked_reason(blocked: &Blocked) -> String {
    match blocked {
        Blocked::AwsManagedKey { .. } => "AwsManagedKey".to_owned(),
        Blocked::CopyQuota { .. } => "CopyQuota".to_owned(),
    }
}

fn key(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Instance => "instance",
        DatabaseKind::Cluster => "cluster",
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("snapshot-controller configuration")?;
    let session = AwsSession::connect(&topology, "snapshot-controller").await;
    let stores = [DatabaseKind::Instance, DatabaseKind::Cluster]
        .into_iter()
        .map(|kind| (key(kind), RdsSnapshotStore::new(&session, &topology, kind)))
        .collect();
    let deps = Deps {
        databases: topology.snapshot_policies(),
        stores,
        replicated: RdsReplicatedBackups::new(&session, &topology),
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(_schedule: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let mut summary = Vec::new();
    let mut unobservable = Vec::new();
    for (kind, policy) in &deps.databases {
        let store = &deps.stores[key(*kind)];
        let now = dr_core::time::now_millis();
        // Replicated backups: kept on, and their RPO; a failure here never stops the tick.
        let replication = ensure_backup_replication(&deps.replicated, policy).await;
        let replicated_rpo_ms = match &replication {
            Some(Ok(ReplicationState::Replicating {
                latest_restorable_ms: Some(latest),
            })) => Some((now - latest).max(0)),
            _ => None,
        };
        let replication_summary = replication.map(|r| match r {
            Ok(state) => {
                tracing::info!(database = %policy.database, ?state, "backup replication");
                format!("{state:?}")
            }
            Err(error) => {
                tracing::error!(database = %policy.database, %error, "backup replication");
                MetricLine::for_function("snapshot-controller")
                    .dimension("Database", &policy.database)
                    .dimension("Reason", &error.operation)
                    .count("FailuresByReason", 1)
                    .emit();
                format!("error: {error}")
            }
        });
        match tick(store, policy, now).await {
            Ok(report) => {
                let blocked: Vec<String> = report
                    .plan
                    .blocked
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                for reason in &blocked {
                    tracing::warn!(database = %policy.database, %reason, "snapshot pipeline blocked");
                }
                let mut line = MetricLine::for_function("snapshot-controller")
                    .dimension("Database", &policy.database)
                    .count("CopiesInFlight", report.plan.copies_in_flight as u64)
                    .count("Failures", report.failed.len() as u64)
                    .count("Blocked", blocked.len() as u64);
                // RpoSeconds: what a failover now would lose, from the best source; and
                // per source, so an alarm can tell a stalled replication from old copies.
                let best = [report.plan.rpo_ms, replicated_rpo_ms]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(rpo) = best {
                    line = line.seconds("RpoSeconds", rpo as f64 / 1000.0);
                }
                line.emit();
                for (source, rpo) in [
                    (SNAPSHOT_COPY, report.plan.rpo_ms),
                    (REPLICATED_BACKUPS, replicated_rpo_ms),
                ] {
                    if let Some(rpo) = rpo {
                        MetricLine::for_function("snapshot-controller")
                            .dimension("Database", &policy.database)
                            .dimension("Source", source)
                            .seconds("RpoSeconds", rpo as f64 / 1000.0)
                            .emit();
                    }
                }
                // Failures by reason: one line per failing operation or blocking cause, so
                // an alarm can tell a KMS policy mistake from a quota wait.
                let reasons = report
                    .failed
                    .iter()
                    .map(|(_, e)| e.operation.clone())
                    .chain(report.plan.blocked.iter().map(blocked_reason));
                for reason in reasons {
                    MetricLine::for_function("snapshot-controller")
                        .dimension("Database", &policy.database)
                        .dimension("Reason", &reason)
                        .count("FailuresByReason", 1)
                        .emit();
                }
                summary.push(json!({
                    "database": policy.database,
                    "rpo_seconds": best.map(|ms| ms / 1000),
                    "snapshot_copy_rpo_seconds": report.plan.rpo_ms.map(|ms| ms / 1000),
                    "replicated_backups_rpo_seconds": replicated_rpo_ms.map(|ms| ms / 1000),
                    "backup_replication": replication_summary,
                    "newest_restorable": report.plan.newest_restorable,
                    "done": report.done.len(),
                    "failed": report.failed.iter().map(|(_, e)| e.to_string()).collect::<Vec<_>>(),
                    "blocked": blocked,
                }));
            }
            Err(error) => {
                tracing::error!(database = %policy.database, %error, "cannot observe snapshots");
                unobservable.push(format!("{}: {error}", policy.database));
            }
        }
    }
    if !unobservable.is_empty() {
        return Err(format!("cannot observe: {}", unobservable.join("; ")).into());
    }
    Ok(json!({ "databases": summary }))
}
