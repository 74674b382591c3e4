//! reconciler (DR, scheduled): one invocation of flow B's use case
//! ([`dr_core::reconcile::run_invocation`]): the status tier when due, the deep tier with
//! the time left, repairs only while primary serves, "primary unreachable" as a report.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dr_aws::checkpoint::DynamoCheckpoint;
use dr_aws::failover::DynamoStateStore;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{runtime, AwsSession};
use dr_core::ratelimit::TokenBucket;
use dr_core::reconcile::{self, DeepTier, Direction, Reconciler, StatusTier, WhenNotAllowed};
use dr_core::time::SystemClock;
use dr_core::{Side, Topology};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

struct Deps {
    topology: Topology,
    failover_state: DynamoStateStore,
    primary: IotRegistry,
    dr: IotRegistry,
    ledger: DynamoLedger,
    checkpoint: DynamoCheckpoint,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("reconciler configuration")?;
    let session = AwsSession::connect(&topology, "reconciler").await;
    // One bucket per account: each account's IoT quotas are its own.
    let rate = topology.reconcile.max_calls_per_second;
    let registry = |side: Side| {
        IotRegistry::for_side(&session, &topology, side)
            .with_rate_limit(Arc::new(TokenBucket::new(rate, rate.max(1.0))))
    };
    let table = topology.replication.ledger_table.as_str();
    let deps = Deps {
        failover_state: DynamoStateStore::new(&session, &topology),
        primary: registry(Side::Primary),
        dr: registry(Side::Dr),
        ledger: DynamoLedger::new(session.dynamodb(Side::Dr), table),
        checkpoint: DynamoCheckpoint::new(session.dynamodb(Side::Dr), table, "primary-to-dr"),
        topology,
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let deadline = runtime::invocation_deadline(event.context.deadline, Duration::from_secs(300));
    let repairs = reconcile::decide_repairs(&deps.failover_state, true, WhenNotAllowed::ReportOnly)
        .await
        .unwrap_or_else(|refused| reconcile::Repairs::ReportOnly(refused.0));
    let settings = &deps.topology.reconcile;
    let report = reconcile::run_invocation(
        Reconciler::new(
            &deps.topology,
            Direction::PrimaryToDr,
            &deps.primary,
            &deps.dr,
            &deps.ledger,
        ),
        repairs,
        &deps.checkpoint,
        StatusTier::WhenDue {
            every_ms: i64::from(settings.status_pass_every_minutes) * 60_000,
        },
        DeepTier::WithinDeadline {
            deadline,
            max_pages: settings.max_pages_per_invocation,
        },
        &reconcile::Unwatched,
        &SystemClock,
    )
    .await;
    let failed = report.failed().map(str::to_owned);
    Ok(runtime::finish("reconciler", &report, failed)?)
}
