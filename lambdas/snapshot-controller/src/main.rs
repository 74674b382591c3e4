//! snapshot-controller (scheduled): one invocation of flow C's use case
//! ([`dr_core::snapshots::tick_all`]): per protected database, RDS's backup replication
//! kept on where configured, one level-triggered tick of the snapshot pipeline (snapshot,
//! copy to the DR region, share, DR's own copy, prune), and the RPO per restore source.
//!
//! A failed step is reported and retried by the next tick; a database that cannot even be
//! observed fails the invocation, so Lambda's error metric and alarm fire.

use anyhow::Context;
use dr_aws::backups::RdsReplicatedBackups;
use dr_aws::rds::RdsStores;
use dr_aws::{runtime, AwsSession};
use dr_core::snapshots::{self, DatabaseKind, SnapshotPolicy};
use dr_core::time::SystemClock;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

struct Deps {
    databases: Vec<(DatabaseKind, SnapshotPolicy)>,
    stores: RdsStores,
    replicated: RdsReplicatedBackups,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("snapshot-controller configuration")?;
    let session = AwsSession::connect(&topology, "snapshot-controller").await;
    let deps = Deps {
        databases: topology.snapshot_policies(),
        stores: RdsStores::new(&session, &topology),
        replicated: RdsReplicatedBackups::new(&session, &topology),
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(_schedule: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let report = snapshots::tick_all(
        &deps.stores,
        &deps.replicated,
        &deps.databases,
        &SystemClock,
    )
    .await;
    let unobservable = report.unobservable();
    let failed =
        (!unobservable.is_empty()).then(|| format!("cannot observe: {}", unobservable.join("; ")));
    Ok(runtime::finish("snapshot-controller", &report, failed)?)
}
