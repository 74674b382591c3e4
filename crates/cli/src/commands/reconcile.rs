//! `drctl reconcile`: diff both registries and, with `--apply`, repair the target through
//! the replicator's apply path. A dry run only reports.

use anyhow::Context;
use clap::{Args, ValueEnum};
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::AwsSession;
use std::io::IsTerminal;

use dr_core::failover::StateStore;
use dr_core::reconcile::{
    count_by_status, Drift, MemoryCheckpoint, NoLedger, PassTotals, Phase, ReconcileReport,
    Reconciler,
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
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
    let bar = if args.apply && args.output == Output::Table && std::io::stderr().is_terminal() {
        Some(progress_bar(&source, &target).await?)
    } else {
        None
    };
    let source_ref = SourceRef::of(topology, source_side);
    let report = match args.direction {
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
            walk(&reconciler, bar.as_ref()).await?
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
            walk(&reconciler, bar.as_ref()).await?
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print(
        &report,
        args.apply,
        args.output,
        source.calls() + target.calls(),
    );
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} repairs failed; run again (transient errors) or check the errors above",
            report.failed.len()
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

fn print(report: &ReconcileReport, applied: bool, output: Output, api_calls: u64) {
    let c = report.counts;
    match output {
        Output::Json => {
            let drifts: Vec<_> = report
                .first
                .iter()
                .map(|d| {
                    let (kind, detail) = describe(d);
                    json!({"kind": kind, "certificate_id": d.certificate_id().as_str(), "detail": detail})
                })
                .collect();
            let document = json!({
                "mode": if applied { "apply" } else { "dry-run" },
                "missing": c.missing, "mismatched": c.mismatched, "conflicts": c.conflicts, "extra": c.extra,
                "repaired": report.repaired,
                "checked": report.checked,
                "failed": report.failed.iter().map(|(id, e)| json!({"certificate_id": id.as_str(), "error": e})).collect::<Vec<_>>(),
                "first": drifts,
                "iot_api_calls": api_calls,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            );
        }
        Output::Table => {
            println!(
                "{}: missing {}  mismatched {}  conflicts {}  extra {}  repaired {}  ({} certificates checked, {} IoT calls)",
                if applied { "apply" } else { "dry run" },
                c.missing, c.mismatched, c.conflicts, c.extra, report.repaired, report.checked, api_calls
            );
            for drift in &report.first {
                let (kind, detail) = describe(drift);
                println!("  {kind:<9} {detail}");
            }
            for (id, error) in &report.failed {
                eprintln!("  failed    {id}: {error}");
            }
        }
    }
}
