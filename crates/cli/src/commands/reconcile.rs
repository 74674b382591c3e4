//! `drctl reconcile`: flow B's use case run by hand, to the end: the status tier until
//! nothing is left to repair (a first deploy's backfill), then the whole deep pass. A dry
//! run only reports; `--apply` repairs, unless DR serves (then it is refused and says why).

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Args, ValueEnum};
use dr_aws::failover::{DynamoStateStore, FailoverPorts};
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::AwsSession;
use dr_core::reconcile::{
    self, count_by_status, DeepTier, Direction, MemoryCheckpoint, NoLedger, PassTotals, Phase,
    Progress, ReconcileInvocation, Reconciler, Repairs, StatusDrift, StatusPassReport, StatusTier,
    WhenNotAllowed,
};
use dr_core::replication::ports::ApplyLedger;
use dr_core::report::{Figure, Report, Section};
use dr_core::time::SystemClock;
use dr_core::{Side, Topology};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{self, Output};

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
    let direction = match args.direction {
        DirectionArg::PrimaryToDr => Direction::PrimaryToDr,
        DirectionArg::DrToPrimary => Direction::DrToPrimary,
    };
    let (source_side, target_side) = direction.sides();
    let registry = |side: Side| IotRegistry::for_side(&session, topology, side);
    let (source, target) = (registry(source_side), registry(target_side));
    let repairs = match direction {
        Direction::PrimaryToDr => {
            let state = DynamoStateStore::new(&session, topology);
            reconcile::decide_repairs(&state, args.apply, WhenNotAllowed::Refuse).await?
        }
        // Failback's direction: primary is being rebuilt from DR, nothing to protect.
        Direction::DrToPrimary if args.apply => Repairs::Apply,
        Direction::DrToPrimary => Repairs::DryRun,
    };
    let (status, deep) = match args.tier {
        TierArg::Status => (StatusTier::UntilSettled, DeepTier::Skip),
        TierArg::Deep => (StatusTier::Skip, DeepTier::ToTheEnd),
        TierArg::Both => (StatusTier::UntilSettled, DeepTier::ToTheEnd),
    };
    // Bars only when repairing and a person is watching (they draw on stderr's terminal).
    let watching =
        repairs.apply() && args.output == Output::Table && std::io::stderr().is_terminal();
    let bars = Bars::new(watching, deep != DeepTier::Skip, &source, &target).await?;
    let invocation = match direction {
        // The same ledger as the replicator, so a repair never undoes a newer message.
        Direction::PrimaryToDr => {
            let ledger = DynamoLedger::new(
                session.dynamodb(Side::Dr),
                topology.replication.ledger_table.as_str(),
            );
            let reconciler = Reconciler::new(topology, direction, &source, &target, &ledger);
            to_the_end(reconciler, repairs, status, deep, &bars).await
        }
        Direction::DrToPrimary => {
            let reconciler = Reconciler::new(topology, direction, &source, &target, &NoLedger);
            to_the_end(reconciler, repairs, status, deep, &bars).await
        }
    };
    bars.finish();
    let failures = invocation.repair_failures();
    let stopped = invocation.stopped.clone();
    output::print(
        &ReconcileOutput {
            invocation,
            tier: args.tier,
            iot_calls: source.calls() + target.calls(),
        },
        args.output,
    );
    if let Some(stopped) = stopped {
        anyhow::bail!("{}", stopped.reason());
    }
    if failures > 0 {
        anyhow::bail!(
            "{failures} repairs failed; run again (transient errors) or check the errors above"
        );
    }
    if args.apply && direction == Direction::DrToPrimary {
        // Failback's precondition: primary has caught up with what DR registered.
        FailoverPorts::new(&session, topology)
            .controller()
            .reverse_reconciled(dr_core::time::now_millis())
            .await
            .context("recording the reverse reconcile for failback")?;
        println!("recorded: DR → primary reconcile complete (failback may proceed)");
    }
    Ok(())
}

/// One invocation walked to the end: drctl's checkpoint lives as long as the command.
async fn to_the_end<L: ApplyLedger + Sync>(
    reconciler: Reconciler<'_, IotRegistry, IotRegistry, L>,
    repairs: Repairs,
    status: StatusTier,
    deep: DeepTier,
    bars: &Bars,
) -> ReconcileInvocation {
    let checkpoint = MemoryCheckpoint::default();
    reconcile::run_invocation(
        reconciler,
        repairs,
        &checkpoint,
        status,
        deep,
        bars,
        &SystemClock,
    )
    .await
}

/// The invocation's report, the tiers asked for and the IoT calls it cost.
struct ReconcileOutput {
    invocation: ReconcileInvocation,
    tier: TierArg,
    iot_calls: u64,
}

impl Report for ReconcileOutput {
    fn sections(&self) -> Vec<Section> {
        let mut sections = self.invocation.sections();
        let tier = self
            .tier
            .to_possible_value()
            .map(|v| v.get_name().to_owned());
        sections.push(
            Section::top()
                .figure(Figure::count("IotApiCalls", self.iot_calls))
                .fact("tier", tier),
        );
        sections
    }
}

/// Progress for a person: a spinner then a bar for the status tier's repairs, a bar as
/// long as both listings for the deep tier.
struct Bars {
    status: Option<ProgressBar>,
    deep: Option<ProgressBar>,
}

impl Bars {
    async fn new(
        watching: bool,
        deep: bool,
        source: &IotRegistry,
        target: &IotRegistry,
    ) -> anyhow::Result<Self> {
        if !watching {
            return Ok(Self {
                status: None,
                deep: None,
            });
        }
        let status = ProgressBar::new_spinner();
        status.set_message("status pass: listing both registries");
        let deep = if deep {
            // The deep pass looks at every source certificate, then at every target
            // certificate. Counting costs one call per 250 certificates per side.
            let mut total = 0;
            for registry in [source, target] {
                total += count_by_status(registry).await?.values().sum::<u64>();
            }
            let bar = ProgressBar::hidden();
            bar.set_length(total);
            bar.set_style(style(
                "{bar:40} {pos}/{len} certificates checked, {msg} ({elapsed}, about {eta} left)",
            ));
            Some(bar)
        } else {
            None
        };
        Ok(Self {
            status: Some(status),
            deep,
        })
    }

    fn finish(&self) {
        for bar in self.status.iter().chain(&self.deep) {
            bar.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("a valid template")
}

impl Progress for Bars {
    fn repaired(&self, _drift: &StatusDrift) {
        if let Some(bar) = &self.status {
            bar.inc(1);
        }
    }

    fn status_pass_done(&self, report: &StatusPassReport) {
        if let Some(bar) = &self.status {
            if bar.length().is_none() && report.left_for_next_pass > 0 {
                bar.set_length(report.counts.missing + report.counts.status);
                bar.set_position(report.repaired);
                bar.set_style(style("{bar:40} {pos}/{len} certificates repaired into the target ({elapsed}, about {eta} left)"));
            }
        }
    }

    fn page_done(&self, phase: Phase, totals: &PassTotals) {
        if let Some(status) = &self.status {
            status.finish_and_clear();
        }
        if let Some(bar) = &self.deep {
            if bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            let phase = match phase {
                Phase::Source => "comparing source with target",
                Phase::Extras => "looking for target-only certificates",
            };
            bar.set_position(totals.checked);
            bar.set_message(format!("{phase}, repaired {}", totals.repaired));
        }
    }
}
