//! reconciler (DR, scheduled): anti-entropy. Walks both registries a page at a time at a
//! bounded API rate, diffs them and repairs DR through the replicator's own
//! capture-and-apply path (same ledger, revoked wins). The position in the walk is
//! checkpointed after every page, so a fleet too large for one invocation continues in the
//! next. Reports drift metrics, and a distinct `PrimaryUnreachable` signal when primary
//! cannot be read — during an outage that is the news, not drift, and the invocation ends
//! within one call's timeout instead of waiting out its own.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use dr_aws::checkpoint::DynamoCheckpoint;
use dr_aws::failover::DynamoStateStore;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::metrics::MetricLine;
use dr_aws::{runtime, AwsSession};
use dr_core::failover::StateStore;
use dr_core::ratelimit::TokenBucket;
use dr_core::reconcile::{ReconcileError, ReconcileReport, Reconciler};
use dr_core::replication::message::SourceRef;
use dr_core::replication::ArnRewrite;
use dr_core::Side;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

struct Deps {
    failover_state: DynamoStateStore,
    primary: IotRegistry,
    dr: IotRegistry,
    ledger: DynamoLedger,
    checkpoint: DynamoCheckpoint,
    rewrite: ArnRewrite,
    source: SourceRef,
    page_size: u32,
    max_pages: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("reconciler configuration")?;
    let session = AwsSession::connect(&topology, "reconciler").await;
    // One bucket per account: each account's IoT quotas are its own.
    let pace = || {
        Arc::new(TokenBucket::new(
            topology.reconcile.max_calls_per_second,
            topology.reconcile.max_calls_per_second.max(1.0),
        ))
    };
    let registry =
        |side: Side| IotRegistry::for_side(&session, &topology, side).with_rate_limit(pace());
    let table = topology.replication.ledger_table.as_str();
    let deps = Deps {
        failover_state: DynamoStateStore::new(&session, &topology),
        primary: registry(Side::Primary),
        dr: registry(Side::Dr),
        ledger: DynamoLedger::new(session.dynamodb(Side::Dr), table),
        checkpoint: DynamoCheckpoint::new(session.dynamodb(Side::Dr), table, "primary-to-dr"),
        rewrite: ArnRewrite::primary_to_dr(&topology),
        source: SourceRef::of(&topology, Side::Primary),
        page_size: topology.reconcile.page_size,
        max_pages: topology.reconcile.max_pages_per_invocation,
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let started = Instant::now();
    let deadline = runtime::invocation_deadline(event.context.deadline, Duration::from_secs(300));
    let apply_repairs = repairs_allowed(&deps.failover_state).await;
    let reconciler = Reconciler {
        source: &deps.primary,
        target: &deps.dr,
        ledger: &deps.ledger,
        source_ref: deps.source.clone(),
        rewrite: deps.rewrite.clone(),
        apply_repairs,
        page_size: deps.page_size,
    };
    let mut slowest_page = Duration::ZERO;
    let mut page_started = Instant::now();
    let keep_going = |pages: u64| {
        slowest_page = slowest_page.max(page_started.elapsed());
        page_started = Instant::now();
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        // Stop while another page (at the slowest pace seen, twice over) surely fits: an
        // invocation cut off by its timeout would lose the page it was on and report nothing.
        deps.max_pages.is_none_or(|max| pages < max)
            && left > slowest_page * 2 + Duration::from_secs(10)
    };
    let result = reconciler
        .run(
            &deps.checkpoint,
            keep_going,
            |_, _| {},
            dr_core::time::now_millis,
        )
        .await;
    let metrics = MetricLine::for_function("reconciler")
        .millis("DurationMs", started.elapsed().as_secs_f64() * 1000.0)
        .count("RepairsPaused", u64::from(!apply_repairs));
    match result {
        Ok(report) => {
            emit(metrics, &report);
            Ok(summary(&report))
        }
        // During a regional outage this is the news, not a failure of the reconciler: the
        // invocation ends within one call's timeout, says so, and keeps its cursor.
        Err(error @ ReconcileError::SourceUnreachable(_)) => {
            metrics.count("PrimaryUnreachable", 1).emit();
            tracing::error!(%error, "primary unreachable: nothing to compare DR against");
            Ok(json!({"primary_unreachable": true, "error": error.to_string()}))
        }
        Err(error) => {
            metrics.count("PrimaryUnreachable", 0).emit();
            Err(error.into())
        }
    }
}

/// Whether DR may be repaired from primary now: not while DR serves traffic (or a runbook
/// is moving it), because then DR is the source of truth and primary's older state would
/// undo what happened in DR (deactivations, new links); failback reconciles the other way.
/// An unreadable failover state pauses repairs too: better a report than a wrong repair.
async fn repairs_allowed(state: &DynamoStateStore) -> bool {
    match state.load().await {
        Ok(None) => true,
        Ok(Some(stored)) => {
            let serving_primary = stored.record.primary_is_source_of_truth();
            if !serving_primary {
                tracing::warn!(mode = %stored.record.state.mode, "DR serves traffic: reporting drift only, no repairs");
            }
            serving_primary
        }
        Err(error) => {
            tracing::error!(%error, "failover state unreadable: reporting drift only, no repairs");
            false
        }
    }
}

/// Drift found in this invocation; when it completed a pass, the pass's totals and age.
fn emit(metrics: MetricLine, report: &ReconcileReport) {
    let c = report.counts;
    let mut metrics = metrics
        .count("PrimaryUnreachable", 0)
        .count("Missing", c.missing)
        .count("Mismatched", c.mismatched)
        .count("Conflicts", c.conflicts)
        .count("Extra", c.extra)
        .count("Checked", report.checked)
        .count("Repaired", report.repaired)
        .count("RepairFailures", report.failed.len() as u64);
    if let Some((started_ms, totals)) = report.completed {
        let pass_seconds = dr_core::time::now_millis().saturating_sub(started_ms) as f64 / 1000.0;
        metrics = metrics
            .count("PassesCompleted", 1)
            .count("PassCertificates", totals.checked)
            .seconds("PassSeconds", pass_seconds);
        tracing::info!(?totals, pass_seconds, "reconcile pass completed");
    }
    metrics.emit();
    for drift in &report.first {
        tracing::info!(certificate_id = %drift.certificate_id(), ?drift, "drift");
    }
    for (id, error) in &report.failed {
        tracing::warn!(certificate_id = %id, %error, "repair failed; the next pass retries");
    }
}

fn summary(report: &ReconcileReport) -> Value {
    let c = report.counts;
    json!({
        "primary_unreachable": false,
        "missing": c.missing, "mismatched": c.mismatched, "conflicts": c.conflicts,
        "extra": c.extra, "checked": report.checked, "repaired": report.repaired,
        "failed": report.failed.len(),
        "pass_completed": report.completed.is_some(),
        "cursor": report.cursor,
    })
}
