//! reconciler (DR, scheduled): anti-entropy in two tiers, both repairing DR through the
//! replicator's own capture-and-apply path (same ledger, revoked wins).
//!
//! 1. The **status pass**, when due (`[reconcile] status_pass_every_minutes`): both
//!    listings compared by id and status only (≈ 4,000 calls per side for 1M
//!    certificates); missing certificates and wrong statuses repaired, revocations first.
//! 2. The **deep pass** with the time left: things, links and policies, a page at a time,
//!    checkpointed after every page so a fleet too large for one invocation continues in
//!    the next.
//!
//! Reports drift by kind and tier, each tier's "oldest unverified" age, and a distinct
//! `PrimaryUnreachable` signal when primary cannot be read — during an outage that is the
//! news, not drift, and the invocation ends within one call's timeout instead of waiting
//! out its own.

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
use dr_core::reconcile::{
    record_status_pass, CheckpointStore, PassCursor, ReconcileError, ReconcileReport, Reconciler,
    StatusPassReport,
};
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
    status_pass_every_ms: i64,
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
        status_pass_every_ms: i64::from(topology.reconcile.status_pass_every_minutes) * 60_000,
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
    let metrics =
        MetricLine::for_function("reconciler").count("RepairsPaused", u64::from(!apply_repairs));
    let status = match status_tier(&reconciler, deps, deadline).await {
        Ok(status) => status,
        Err(error) => return unreachable_or_fail(error, metrics),
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
    let metrics = metrics.millis("DurationMs", started.elapsed().as_secs_f64() * 1000.0);
    match result {
        Ok(report) => {
            emit(metrics, &report);
            let mut summary = summary(&report);
            summary["status_pass"] = status.map_or(Value::Null, |s| json!(s));
            Ok(summary)
        }
        Err(error) => unreachable_or_fail(error, metrics),
    }
}

/// During a regional outage primary being unreadable is the news, not a failure of the
/// reconciler: the invocation ends within one call's timeout, says so, and keeps its
/// cursor (the freshness metrics keep growing, and their alarm says what it means).
fn unreachable_or_fail(error: ReconcileError, metrics: MetricLine) -> Result<Value, Error> {
    match error {
        ReconcileError::SourceUnreachable(_) => {
            metrics.count("PrimaryUnreachable", 1).emit();
            tracing::error!(%error, "primary unreachable: nothing to compare DR against");
            Ok(json!({"primary_unreachable": true, "error": error.to_string()}))
        }
        error => {
            metrics.count("PrimaryUnreachable", 0).emit();
            Err(error.into())
        }
    }
}

/// The status pass when one is due, recorded in the checkpoint when it completes; then
/// each tier's freshness. `Ok(None)`: none was due.
async fn status_tier(
    reconciler: &Reconciler<'_, IotRegistry, IotRegistry, DynamoLedger>,
    deps: &Deps,
    deadline: SystemTime,
) -> Result<Option<StatusPassReport>, ReconcileError> {
    let now = dr_core::time::now_millis;
    let cursor = deps
        .checkpoint
        .load()
        .await
        .map_err(ReconcileError::Checkpoint)?
        .map(|c| c.cursor)
        .unwrap_or_default();
    if !cursor.status_pass_due(now(), deps.status_pass_every_ms) {
        emit_freshness(&cursor);
        return Ok(None);
    }
    // Leave a minute for the deep pass to checkpoint and for the metrics.
    let keep_going = || {
        deadline
            .duration_since(SystemTime::now())
            .is_ok_and(|left| left > Duration::from_secs(60))
    };
    let pass = reconciler.status_pass(keep_going, &now).await?;
    let saved = record_status_pass(&deps.checkpoint, &pass).await?;
    emit_status(&pass);
    emit_freshness(saved.as_ref().unwrap_or(&cursor));
    Ok(Some(pass))
}

/// The status tier's drift by kind (dimension `Tier=status`).
fn emit_status(report: &StatusPassReport) {
    let c = report.counts;
    MetricLine::for_function("reconciler")
        .dimension("Tier", "status")
        .count("Missing", c.missing)
        .count("WrongStatus", c.status)
        .count("Conflicts", c.conflicts)
        .count("Extra", c.extra)
        .count("Checked", report.source_certificates)
        .count("Repaired", report.repaired)
        .count("RepairFailures", report.failed.len() as u64)
        .count("RepairsLeftForNextPass", report.left_for_next_pass)
        .count("ListCalls", report.source_calls + report.target_calls)
        .count("PassesCompleted", u64::from(report.completed_ms.is_some()))
        .emit();
    for drift in &report.first {
        tracing::info!(certificate_id = %drift.certificate_id(), ?drift, tier = "status", "drift");
    }
    for (id, error) in &report.failed {
        tracing::warn!(certificate_id = %id, %error, "status repair failed; the next pass retries");
    }
}

/// "Oldest unverified certificate" per tier: how long ago the last completed pass of that
/// tier started (nothing until a tier has completed once; its alarm treats that as
/// breaching).
fn emit_freshness(cursor: &PassCursor) {
    let (status, deep) = cursor.oldest_unverified_ms(dr_core::time::now_millis());
    for (tier, age) in [("status", status), ("deep", deep)] {
        if let Some(age) = age {
            MetricLine::for_function("reconciler")
                .dimension("Tier", tier)
                .seconds("OldestUnverifiedSeconds", age as f64 / 1000.0)
                .emit();
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
        .count("WrongStatus", c.status)
        .count("ThingLinks", c.thing_links)
        .count("Policies", c.policies)
        .count("Conflicts", c.conflicts)
        .count("Extra", c.extra)
        .count("Memberships", c.memberships)
        .count("Shadows", c.shadows)
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
        "extra": c.extra, "memberships": c.memberships, "shadows": c.shadows, "checked": report.checked, "repaired": report.repaired,
        "failed": report.failed.len(),
        "pass_completed": report.completed.is_some(),
        "cursor": report.cursor,
    })
}
