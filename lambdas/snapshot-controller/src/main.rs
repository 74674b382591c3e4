//! snapshot-controller (scheduled): one level-triggered tick per protected database —
//! snapshot, copy to the DR region, share, DR's own copy, prune — and the RPO metric.
//!
//! A failed step is logged and retried by the next tick; a database that cannot even be
//! observed fails the invocation, so Lambda's error metric and alarm fire.

use std::collections::HashMap;

use anyhow::Context;
use dr_aws::metrics::MetricLine;
use dr_aws::rds::RdsSnapshotStore;
use dr_aws::{runtime, AwsSession};
use dr_core::snapshots::{tick, Blocked, DatabaseKind, SnapshotPolicy};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

struct Deps {
    databases: Vec<(DatabaseKind, SnapshotPolicy)>,
    stores: HashMap<&'static str, RdsSnapshotStore>,
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
        match tick(store, policy, dr_core::time::now_millis()).await {
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
                if let Some(rpo) = report.plan.rpo_ms {
                    line = line.seconds("RpoSeconds", rpo as f64 / 1000.0);
                }
                line.emit();
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
                    "rpo_seconds": report.plan.rpo_ms.map(|ms| ms / 1000),
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
