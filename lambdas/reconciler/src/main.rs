//! reconciler (DR, scheduled): anti-entropy. Lists both registries at a bounded API rate,
//! diffs them and repairs DR through the replicator's own capture-and-apply path (same
//! ledger, revoked wins). Reports drift metrics, and a distinct `PrimaryUnreachable` signal
//! when primary cannot be read — during an outage that is the news, not drift.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::metrics::MetricLine;
use dr_aws::{runtime, AwsSession};
use dr_core::ratelimit::TokenBucket;
use dr_core::reconcile::{reconcile, ReconcileError};
use dr_core::replication::message::SourceRef;
use dr_core::replication::ArnRewrite;
use dr_core::Side;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

struct Deps {
    primary: IotRegistry,
    dr: IotRegistry,
    ledger: DynamoLedger,
    rewrite: ArnRewrite,
    source: SourceRef,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("reconciler configuration")?;
    let session = AwsSession::connect(&topology, "reconciler").await;
    let pace = || {
        Arc::new(TokenBucket::new(
            topology.reconcile.max_calls_per_second,
            topology.reconcile.max_calls_per_second.max(1.0),
        ))
    };
    let registry =
        |side: Side| IotRegistry::for_side(&session, &topology, side).with_rate_limit(pace());
    let deps = Deps {
        primary: registry(Side::Primary),
        dr: registry(Side::Dr),
        ledger: DynamoLedger::new(
            session.dynamodb(Side::Dr),
            topology.replication.ledger_table.as_str(),
        ),
        rewrite: ArnRewrite::primary_to_dr(&topology),
        source: SourceRef::of(&topology, Side::Primary),
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(_schedule: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let started = Instant::now();
    let result = reconcile(
        &deps.primary,
        &deps.dr,
        &deps.ledger,
        &deps.source,
        &deps.rewrite,
        true,
        dr_core::time::now_millis,
    )
    .await;
    let metrics = MetricLine::for_function("reconciler")
        .millis("DurationMs", started.elapsed().as_secs_f64() * 1000.0);
    match result {
        Ok(report) => {
            let c = report.counts;
            metrics
                .count("PrimaryUnreachable", 0)
                .count("Missing", c.missing)
                .count("Mismatched", c.mismatched)
                .count("Conflicts", c.conflicts)
                .count("Extra", c.extra)
                .count("Repaired", report.repaired)
                .count("RepairFailures", report.failed.len() as u64)
                .emit();
            for drift in &report.first {
                tracing::info!(certificate_id = %drift.certificate_id(), ?drift, "drift");
            }
            for (id, error) in &report.failed {
                tracing::warn!(certificate_id = %id, %error, "repair failed; the next pass retries");
            }
            Ok(json!({
                "missing": c.missing, "mismatched": c.mismatched, "conflicts": c.conflicts,
                "extra": c.extra, "repaired": report.repaired, "failed": report.failed.len(),
            }))
        }
        Err(error @ ReconcileError::SourceUnreachable(_)) => {
            metrics.count("PrimaryUnreachable", 1).emit();
            tracing::error!(%error, "primary unreachable: nothing to compare DR against");
            Err(error.into())
        }
        Err(error) => {
            metrics.count("PrimaryUnreachable", 0).emit();
            Err(error.into())
        }
    }
}
