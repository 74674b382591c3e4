//! `drctl reconcile`: diff both registries and, with `--apply`, repair the target through
//! the replicator's apply path. A dry run only reports. Two tiers, as the reconciler runs
//! them: the status pass (both listings, ids and statuses) first, then the deep pass.

use anyhow::Context;
use clap::{Args, ValueEnum};
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::AwsSession;
use std::io::IsTerminal;

use dr_core::failover::StateStore;
use dr_core::reconcile::{
    count_by_status, Drift, MemoryCheckpoint, NoLedger, PassTotals, Phase, ReconcileReport,
    Reconciler, StatusDrift, StatusPassReport,
};
use dr_core::replication::message::SourceRef;
use dr_core::replication::ports::ApplyLedger;
use dr_core::replication::ArnRewrite;
use dr_core::{Side, Topology};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::snapshot::Output;

#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    /// Repair the drift (default: a dry run that changes nothing).
    #[arg(long)]
    apply: bool,
    /// Which registry is the source of truth.
    #[arg(long, value_enum, default_value_t = DirectionArg::PrimaryToDr)]
    direction: DirectionArg,
    /// Which tier: `status` (ids and statuses from the listings: minutes at any fleet size),
    /// `deep` (things, links, policies: about three calls per certificate per side), or both.
    #[arg(long, value_enum, default_value_t = TierArg::Both)]
    tier: TierArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TierArg {
    /// The status pass only.
    Status,
    /// The deep pass only.
    Deep,
    /// The status pass, then the deep pass.
    Both,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DirectionArg {
    /// Normal operation: DR follows primary.
    PrimaryToDr,
    /// Failback: primary catches up with DR.
    DrToPrimary,
}

pub(crate) async fn run(args: ReconcileArgs, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let registry = |side: Side| IotRegistry::for_side(&session, topology, side);
    let (source_side, target_side) = match args.direction {
        DirectionArg::PrimaryToDr => (Side::Primary, Side::Dr),
        DirectionArg::DrToPrimary => (Side::Dr, Side::Primary),
    };
    let (source, target) = (registry(source_side), registry(target_side));
    if args.apply && matches!(args.direction, DirectionArg::PrimaryToDr) {
        let ports = dr_aws::failover::FailoverPorts::new(&session, topology);
        let stored = ports
            .store
            .load()
            .await
            .context("reading the failover state")?;
        if let Some(stored) = stored.filter(|s| !s.record.primary_is_source_of_truth()) {
            anyhow::bail!(
                "DR serves traffic or a runbook is moving it ({}): repairing DR from primary would undo what changed in DR; \
                 reconcile --direction dr-to-primary before failing back",
                stored.record.state.mode
            );
        }
    }
    // A bar only when repairing and a person is watching (it draws on stderr's terminal).
    let bar = if args.apply
        && args.tier != TierArg::Status
        && args.output == Output::Table
        && std::io::stderr().is_terminal()
    {
        Some(progress_bar(&source, &target).await?)
    } else {
        None
    };
    let source_ref = SourceRef::of(topology, source_side);
    let (status, report) = match args.direction {
        DirectionArg::PrimaryToDr => {
            // The same ledger as the replicator, so a repair never undoes a newer message.
            let ledger = DynamoLedger::new(
                session.dynamodb(Side::Dr),
                topology.replication.ledger_table.as_str(),
            );
            let reconciler = Reconciler {
                source: &source,
                target: &target,
                ledger: &ledger,
                source_ref,
                rewrite: ArnRewrite::primary_to_dr(topology),
                apply_repairs: args.apply,
                page_size: topology.reconcile.page_size,
            };
            tiers(&reconciler, args.tier, bar.as_ref()).await?
        }
        DirectionArg::DrToPrimary => {
            let reconciler = Reconciler {
                source: &source,
                target: &target,
                ledger: &NoLedger,
                source_ref,
                rewrite: ArnRewrite::primary_to_dr(topology).reversed(),
                apply_repairs: args.apply,
                page_size: topology.reconcile.page_size,
            };
            tiers(&reconciler, args.tier, bar.as_ref()).await?
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print(
        status.as_ref(),
        report.as_ref(),
        args.apply,
        args.output,
        source.calls() + target.calls(),
    );
    let failed = status.as_ref().map_or(0, |s| s.failed.len())
        + report.as_ref().map_or(0, |r| r.failed.len());
    if failed > 0 {
        anyhow::bail!(
            "{failed} repairs failed; run again (transient errors) or check the errors above"
        );
    }
    if args.apply && matches!(args.direction, DirectionArg::DrToPrimary) {
        // Failback's precondition: primary has caught up with what DR registered.
        dr_aws::failover::FailoverPorts::new(&session, topology)
            .controller()
            .reverse_reconciled(dr_core::time::now_millis())
            .await
            .context("recording the reverse reconcile for failback")?;
        println!("recorded: DR → primary reconcile complete (failback may proceed)");
    }
    Ok(())
}

/// The tiers asked for, the status pass first (revocations are repaired soonest there).
async fn tiers<L: ApplyLedger + Sync>(
    reconciler: &Reconciler<'_, IotRegistry, IotRegistry, L>,
    tier: TierArg,
    bar: Option<&ProgressBar>,
) -> anyhow::Result<(Option<StatusPassReport>, Option<ReconcileReport>)> {
    let status = match tier {
        TierArg::Status | TierArg::Both => Some(backfill(reconciler).await?),
        TierArg::Deep => None,
    };
    let deep = match tier {
        TierArg::Deep | TierArg::Both => Some(walk(reconciler, bar).await?),
        TierArg::Status => None,
    };
    Ok((status, deep))
}

/// Status passes until nothing is left to repair: one pass on a fleet in step, and on a
/// first deploy (DR empty: the backfill) as many as it takes, each repairing up to
/// [`dr_core::reconcile::DEFERRED_REPAIRS`] so memory stays bounded. Resumable by
/// construction: stopped at any point, a rerun lists both sides again (minutes) and
/// repairs what is still missing. With `--apply` and a person watching, a bar with an ETA.
async fn backfill<L: ApplyLedger + Sync>(
    reconciler: &Reconciler<'_, IotRegistry, IotRegistry, L>,
) -> anyhow::Result<StatusPassReport> {
    let now = dr_core::time::now_millis;
    let watching = reconciler.apply_repairs && std::io::stderr().is_terminal();
    let bar = watching.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_message("status pass: listing both registries");
        bar
    });
    let on_repair = |_: &StatusDrift| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    };
    let mut total = reconciler
        .status_pass_observed(|| true, &now, &on_repair)
        .await?;
    while reconciler.apply_repairs && total.left_for_next_pass > 0 {
        if let Some(bar) = &bar {
            if bar.length().is_none() {
                bar.set_length(total.counts.missing + total.counts.status);
                bar.set_position(total.repaired);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} certificates repaired into the target ({elapsed}, about {eta} left)",
                    )
                    .expect("a valid template"),
                );
            }
        }
        let next = reconciler
            .status_pass_observed(|| true, &now, &on_repair)
            .await?;
        let stuck = next.repaired == 0;
        total.repaired += next.repaired;
        total.failed.extend(next.failed);
        total.left_for_next_pass = next.left_for_next_pass;
        total.source_calls += next.source_calls;
        total.target_calls += next.target_calls;
        total.completed_ms = next.completed_ms;
        if stuck {
            break; // every repair failed: report instead of looping
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(total)
}

/// One whole pass (its own in-memory checkpoint: `drctl` runs to the end), moving `bar`.
async fn walk<L: ApplyLedger + Sync>(
    reconciler: &Reconciler<'_, IotRegistry, IotRegistry, L>,
    bar: Option<&ProgressBar>,
) -> anyhow::Result<ReconcileReport> {
    let on_page = |phase: Phase, totals: &PassTotals| {
        if let Some(bar) = bar {
            let phase = match phase {
                Phase::Source => "comparing source with target",
                Phase::Extras => "looking for target-only certificates",
            };
            bar.set_position(totals.checked);
            bar.set_message(format!("{phase}, repaired {}", totals.repaired));
        }
    };
    Ok(reconciler
        .run(
            &MemoryCheckpoint::default(),
            |_| true,
            on_page,
            dr_core::time::now_millis,
        )
        .await?)
}

/// A bar as long as both listings: the pass looks at every source certificate, then at
/// every target certificate. Counting costs one call per 250 certificates per side.
async fn progress_bar(source: &IotRegistry, target: &IotRegistry) -> anyhow::Result<ProgressBar> {
    let mut total = 0;
    for registry in [source, target] {
        total += count_by_status(registry).await?.values().sum::<u64>();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} certificates checked, {msg} ({elapsed}, about {eta} left)",
        )
        .expect("a valid template"),
    );
    Ok(bar)
}

fn describe(drift: &Drift) -> (&'static str, String) {
    match drift {
        Drift::Missing(e) => ("missing", format!("{} ({}) absent from the target", e.certificate_id, e.status)),
        Drift::Mismatch { source, status, things, policies } => {
            let mut what = Vec::new();
            if let Some(status) = status {
                what.push(format!("status {status} should be {}", source.status.in_dr()));
            }
            if *things {
                what.push("thing links differ".to_owned());
            }
            if *policies {
                what.push("policies differ".to_owned());
            }
            ("mismatch", format!("{}: {}", source.certificate_id, what.join(", ")))
        }
        Drift::RevokedConflict { certificate_id, source_status } => (
            "conflict",
            format!("{certificate_id} is REVOKED in the target but {source_status} in the source; kept revoked"),
        ),
        Drift::Extra(id) => ("extra", format!("{id} only in the target; reported, never deleted")),
    }
}

fn describe_status(drift: &StatusDrift) -> (&'static str, String) {
    match drift {
        StatusDrift::Missing { certificate_id, source } => {
            ("missing", format!("{certificate_id} ({source}) absent from the target"))
        }
        StatusDrift::Status { certificate_id, source, target } => (
            "status",
            format!("{certificate_id}: {target} in the target, should be {}", source.in_dr()),
        ),
        StatusDrift::RevokedConflict { certificate_id, source } => (
            "conflict",
            format!("{certificate_id} is REVOKED in the target but {source} in the source; kept revoked"),
        ),
        StatusDrift::Extra { certificate_id, target } => (
            "extra",
            format!("{certificate_id} ({target}) only in the target; reported, never deleted"),
        ),
    }
}

fn status_json(report: &StatusPassReport) -> serde_json::Value {
    let c = report.counts;
    json!({
        "missing": c.missing, "status": c.status, "conflicts": c.conflicts, "extra": c.extra,
        "repaired": report.repaired,
        "left_for_next_pass": report.left_for_next_pass,
        "source_certificates": report.source_certificates,
        "target_certificates": report.target_certificates,
        "list_calls": {"source": report.source_calls, "target": report.target_calls},
        "failed": report.failed.iter().map(|(id, e)| json!({"certificate_id": id.as_str(), "error": e})).collect::<Vec<_>>(),
        "first": report.first.iter().map(|d| {
            let (kind, detail) = describe_status(d);
            json!({"kind": kind, "certificate_id": d.certificate_id().as_str(), "detail": detail})
        }).collect::<Vec<_>>(),
    })
}

fn print(
    status: Option<&StatusPassReport>,
    report: Option<&ReconcileReport>,
    applied: bool,
    output: Output,
    api_calls: u64,
) {
    let mode = if applied { "apply" } else { "dry-run" };
    match output {
        Output::Json => {
            let mut document = report.map_or_else(|| json!({}), deep_json);
            document["mode"] = json!(mode);
            document["tier"] = json!(match (status, report) {
                (Some(_), Some(_)) => "both",
                (Some(_), None) => "status",
                _ => "deep",
            });
            document["status_pass"] = status.map_or(serde_json::Value::Null, status_json);
            document["iot_api_calls"] = json!(api_calls);
            println!(
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            );
        }
        Output::Table => {
            if let Some(s) = status {
                let c = s.counts;
                println!(
                    "status pass ({mode}): missing {}  wrong status {}  conflicts {}  extra {}  repaired {}  left for the next pass {}  ({} / {} certificates listed, {} + {} ListCertificates calls)",
                    c.missing, c.status, c.conflicts, c.extra, s.repaired, s.left_for_next_pass,
                    s.source_certificates, s.target_certificates, s.source_calls, s.target_calls
                );
                for drift in &s.first {
                    let (kind, detail) = describe_status(drift);
                    println!("  {kind:<9} {detail}");
                }
                for (id, error) in &s.failed {
                    eprintln!("  failed    {id}: {error}");
                }
            }
            if let Some(report) = report {
                print_deep_table(report, mode);
            }
            println!("{api_calls} IoT calls in all");
        }
    }
}

fn deep_json(report: &ReconcileReport) -> serde_json::Value {
    let c = report.counts;
    let drifts: Vec<_> = report
        .first
        .iter()
        .map(|d| {
            let (kind, detail) = describe(d);
            json!({"kind": kind, "certificate_id": d.certificate_id().as_str(), "detail": detail})
        })
        .collect();
    json!({
        "missing": c.missing, "mismatched": c.mismatched, "conflicts": c.conflicts, "extra": c.extra,
        "by_kind": {"status": c.status, "thing_links": c.thing_links, "policies": c.policies},
        "memberships": c.memberships, "shadows": c.shadows,
        "repaired": report.repaired,
        "checked": report.checked,
        "failed": report.failed.iter().map(|(id, e)| json!({"certificate_id": id.as_str(), "error": e})).collect::<Vec<_>>(),
        "first": drifts,
    })
}

fn print_deep_table(report: &ReconcileReport, mode: &str) {
    let c = report.counts;
    println!(
        "deep pass ({mode}): missing {}  mismatched {} (status {}, thing links {}, policies {})  conflicts {}  extra {}  group memberships {}  shadows {}  repaired {}  ({} certificates checked)",
        c.missing, c.mismatched, c.status, c.thing_links, c.policies, c.conflicts, c.extra, c.memberships, c.shadows, report.repaired, report.checked
    );
    for drift in &report.first {
        let (kind, detail) = describe(drift);
        println!("  {kind:<9} {detail}");
    }
    for (id, error) in &report.failed {
        eprintln!("  failed    {id}: {error}");
    }
}
