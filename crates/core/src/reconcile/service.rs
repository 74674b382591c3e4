//! Flow B's use case: one reconciler invocation, as the scheduled Lambda and `drctl
//! reconcile` both run it.
//!
//! 1. **May DR be repaired?** ([`decide_repairs`]) Not while DR serves traffic or a runbook
//!    is moving it: DR is then the source of truth, and primary's older state would undo
//!    what happened in DR (deactivations, new links); failback reconciles the other way.
//!    An unreadable failover state pauses repairs too: better a report than a wrong repair.
//!    The Lambda reports drift only; an operator's `--apply` is refused with the reason.
//! 2. **The status tier** ([`StatusTier`]): when due (the Lambda, every
//!    `[reconcile] status_pass_every_minutes`), or until nothing is left to repair (`drctl`,
//!    a first deploy's backfill), recorded in the checkpoint when it completes.
//! 3. **The deep tier** ([`DeepTier`]) with the time left: a page at a time from the
//!    checkpoint, stopping while another page surely fits, or to the end (`drctl`).
//!
//! Primary that cannot be read is the news during an outage, not a failure of the
//! reconciler: the invocation ends within one call's timeout and says so
//! ([`Stopped::PrimaryUnreachable`]), keeping its cursor, so the freshness metrics keep
//! growing and their alarm says what it means.

use std::time::{Duration, Instant};

use super::cursor::{CheckpointStore, CompletedStatusPass, PassCursor, PassTotals, Phase};
use super::deep::{ReconcileReport, Reconciler};
use super::diff::Drift;
use super::ports::{CertificateLister, ReconcileError};
use super::status_pass::{StatusDrift, StatusPassReport};
use crate::failover::StateStore;
use crate::replication::ports::{ApplyLedger, DeviceRegistry};
use crate::report::{Detail, Figure, Figures, Report, Section};
use crate::time::{Clock, EpochMillis};

/// Whether this invocation repairs what it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repairs {
    /// Repair the target.
    Apply,
    /// Report drift only: the caller asked for no repairs.
    DryRun,
    /// Report drift only: repairs are not allowed now, for this reason.
    ReportOnly(String),
}

impl Repairs {
    /// Whether repairs are applied.
    pub fn apply(&self) -> bool {
        matches!(self, Repairs::Apply)
    }
}

/// What to do when repairs are not allowed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenNotAllowed {
    /// Report drift only (the scheduled reconciler: it runs again in minutes).
    ReportOnly,
    /// Refuse with the reason (an operator asked to repair: say why not).
    Refuse,
}

/// Why an operator's repair was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RepairsRefused(pub String);

/// Whether DR may be repaired from primary now, read from the failover state: the one
/// rule both the Lambda and `drctl` follow. `wanted`: the caller asked to repair at all.
pub async fn decide_repairs<S: StateStore + Sync>(
    failover_state: &S,
    wanted: bool,
    when_not: WhenNotAllowed,
) -> Result<Repairs, RepairsRefused> {
    if !wanted {
        return Ok(Repairs::DryRun);
    }
    let paused = match failover_state.load().await {
        Ok(None) => return Ok(Repairs::Apply),
        Ok(Some(stored)) if stored.record.primary_is_source_of_truth() => {
            return Ok(Repairs::Apply)
        }
        Ok(Some(stored)) => format!(
            "DR serves traffic or a runbook is moving it ({}): repairing DR from primary would \
             undo what changed in DR; reconcile --direction dr-to-primary before failing back",
            stored.record.state.mode
        ),
        Err(error) => format!(
            "the failover state cannot be read ({error}): no repairs until it can, a wrong \
             repair is worse than a report"
        ),
    };
    match when_not {
        WhenNotAllowed::ReportOnly => Ok(Repairs::ReportOnly(paused)),
        WhenNotAllowed::Refuse => Err(RepairsRefused(paused)),
    }
}

/// How much of the status tier an invocation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusTier {
    /// None.
    Skip,
    /// One pass, if `every_ms` passed since the last one started.
    WhenDue {
        /// How often a pass is due.
        every_ms: i64,
    },
    /// Passes until nothing is left to repair (a first deploy's backfill: each pass
    /// repairs a bounded number, memory stays bounded), or until a pass repairs nothing.
    UntilSettled,
}

/// How much of the deep tier an invocation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeepTier {
    /// None.
    Skip,
    /// Pages from the checkpoint while another surely fits before `deadline` (and at most
    /// `max_pages`).
    WithinDeadline {
        /// When the invocation's time is up.
        deadline: Instant,
        /// A cap on pages per invocation, if any.
        max_pages: Option<u64>,
    },
    /// The whole pass.
    ToTheEnd,
}

/// Someone watching a long run (`drctl`'s progress bar); the Lambda watches nothing.
pub trait Progress: Sync {
    /// A status-tier repair was attempted.
    fn repaired(&self, _drift: &StatusDrift) {}
    /// A status pass ended with `left` repairs for the next one.
    fn status_pass_done(&self, _report: &StatusPassReport) {}
    /// A deep-tier page was done; the pass's totals so far.
    fn page_done(&self, _phase: Phase, _totals: &PassTotals) {}
}

/// Nobody watching.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unwatched;

impl Progress for Unwatched {}

/// Why an invocation stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// The source registry gave no answer or refused: nothing to compare against.
    SourceUnreachable(String),
    /// Anything else (the target, the checkpoint, another reconciler): the invocation
    /// fails, so Lambda's error metric fires.
    Failed(String),
}

/// What one invocation found and did.
#[derive(Debug, Clone)]
pub struct ReconcileInvocation {
    /// Whether it repaired.
    pub repairs: Repairs,
    /// The status pass it ran, if one was due (passes added up when run until settled).
    pub status_pass: Option<StatusPassReport>,
    /// How long ago each tier last verified every certificate: status, deep (`None`:
    /// never, or not read).
    pub oldest_unverified_ms: (Option<i64>, Option<i64>),
    /// What the deep tier found, if it ran.
    pub deep: Option<ReconcileReport>,
    /// Why it stopped early, if it did.
    pub stopped: Option<Stopped>,
    /// How long it took.
    pub duration: Duration,
    /// When it ended (the deep pass's age is measured to then).
    pub ended_ms: EpochMillis,
}

/// One invocation of `reconciler` over `checkpoint`: the status tier as `status` says,
/// then the deep tier as `deep` says. The reconciler repairs only if `repairs` allows.
pub async fn run_invocation<S, T, L, C>(
    mut reconciler: Reconciler<'_, S, T, L>,
    repairs: Repairs,
    checkpoint: &C,
    status: StatusTier,
    deep: DeepTier,
    progress: &impl Progress,
    clock: &impl Clock,
) -> ReconcileInvocation
where
    S: DeviceRegistry + CertificateLister + Sync,
    T: DeviceRegistry + CertificateLister + Sync,
    L: ApplyLedger + Sync,
    C: CheckpointStore + Sync,
{
    let started = clock.instant();
    let now = &|| clock.now_ms();
    reconciler.apply_repairs = repairs.apply();
    let mut invocation = ReconcileInvocation {
        repairs,
        status_pass: None,
        oldest_unverified_ms: (None, None),
        deep: None,
        stopped: None,
        duration: Duration::ZERO,
        ended_ms: 0,
    };
    let outcome = async {
        let (status_pass, cursor) =
            status_tier(&reconciler, checkpoint, status, deep, progress, clock).await?;
        invocation.status_pass = status_pass;
        if let Some(cursor) = cursor {
            invocation.oldest_unverified_ms = cursor.oldest_unverified_ms(now());
        }
        invocation.deep = deep_tier(&reconciler, checkpoint, deep, progress, clock).await?;
        Ok::<(), ReconcileError>(())
    }
    .await;
    if let Err(error) = outcome {
        invocation.stopped = Some(match error {
            ReconcileError::SourceUnreachable(_) => Stopped::SourceUnreachable(error.to_string()),
            error => Stopped::Failed(error.to_string()),
        });
    }
    invocation.duration = clock.instant().saturating_duration_since(started);
    invocation.ended_ms = now();
    invocation
}

async fn status_tier<S, T, L, C>(
    reconciler: &Reconciler<'_, S, T, L>,
    checkpoint: &C,
    status: StatusTier,
    deep: DeepTier,
    progress: &impl Progress,
    clock: &impl Clock,
) -> Result<(Option<StatusPassReport>, Option<PassCursor>), ReconcileError>
where
    S: DeviceRegistry + CertificateLister + Sync,
    T: DeviceRegistry + CertificateLister + Sync,
    L: ApplyLedger + Sync,
    C: CheckpointStore + Sync,
{
    let now = &|| clock.now_ms();
    // Leave a minute for the deep tier to checkpoint and for the report.
    let keep_going = || match deep {
        DeepTier::WithinDeadline { deadline, .. } => {
            deadline.saturating_duration_since(clock.instant()) > Duration::from_secs(60)
        }
        DeepTier::Skip | DeepTier::ToTheEnd => true,
    };
    let on_repair = |drift: &StatusDrift| progress.repaired(drift);
    // The checkpoint as this invocation found it: whether a pass is due, and each tier's
    // freshness when none runs (read once; a completed pass returns the cursor it saved).
    let mut cursor = None;
    let mut total = match status {
        StatusTier::Skip => return Ok((None, None)),
        StatusTier::WhenDue { every_ms } => {
            let found = checkpoint
                .load()
                .await
                .map_err(ReconcileError::Checkpoint)?
                .map(|c| c.cursor)
                .unwrap_or_default();
            if !found.status_pass_due(now(), every_ms) {
                return Ok((None, Some(found)));
            }
            cursor = Some(found);
            reconciler
                .status_pass_observed(keep_going, now, &on_repair)
                .await?
        }
        StatusTier::UntilSettled => {
            reconciler
                .status_pass_observed(keep_going, now, &on_repair)
                .await?
        }
    };
    progress.status_pass_done(&total);
    while status == StatusTier::UntilSettled
        && reconciler.apply_repairs
        && total.left_for_next_pass > 0
    {
        let next = reconciler
            .status_pass_observed(keep_going, now, &on_repair)
            .await?;
        progress.status_pass_done(&next);
        let stuck = next.repaired == 0;
        total.add_later(next);
        if stuck {
            break; // every repair failed: report instead of looping
        }
    }
    let saved = record_status_pass(checkpoint, &total).await?;
    Ok((Some(total), saved.or(cursor)))
}

async fn deep_tier<S, T, L, C>(
    reconciler: &Reconciler<'_, S, T, L>,
    checkpoint: &C,
    deep: DeepTier,
    progress: &impl Progress,
    clock: &impl Clock,
) -> Result<Option<ReconcileReport>, ReconcileError>
where
    S: DeviceRegistry + CertificateLister + Sync,
    T: DeviceRegistry + CertificateLister + Sync,
    L: ApplyLedger + Sync,
    C: CheckpointStore + Sync,
{
    let (deadline, max_pages) = match deep {
        DeepTier::Skip => return Ok(None),
        DeepTier::WithinDeadline {
            deadline,
            max_pages,
        } => (Some(deadline), max_pages),
        DeepTier::ToTheEnd => (None, None),
    };
    let mut slowest_page = Duration::ZERO;
    let mut page_started = clock.instant();
    let keep_going = |pages: u64| {
        let now = clock.instant();
        slowest_page = slowest_page.max(now.saturating_duration_since(page_started));
        page_started = now;
        // Stop while another page (at the slowest pace seen, twice over) surely fits: an
        // invocation cut off by its timeout would lose the page it was on and report
        // nothing.
        let fits = deadline.is_none_or(|deadline| {
            deadline.saturating_duration_since(now) > slowest_page * 2 + Duration::from_secs(10)
        });
        max_pages.is_none_or(|max| pages < max) && fits
    };
    reconciler
        .run(
            checkpoint,
            keep_going,
            |phase, totals| progress.page_done(phase, totals),
            || clock.now_ms(),
        )
        .await
        .map(Some)
}

impl StatusPassReport {
    /// Fold a later pass of the same run in: its repairs, failures and calls add up, its
    /// leftovers and completion replace these.
    fn add_later(&mut self, next: StatusPassReport) {
        self.repaired += next.repaired;
        self.failed.extend(next.failed);
        self.left_for_next_pass = next.left_for_next_pass;
        self.source_calls += next.source_calls;
        self.target_calls += next.target_calls;
        self.completed_ms = next.completed_ms;
    }
}

impl Stopped {
    /// Why, in words.
    pub fn reason(&self) -> &str {
        match self {
            Stopped::SourceUnreachable(reason) | Stopped::Failed(reason) => reason,
        }
    }
}

impl ReconcileInvocation {
    /// Whether the invocation failed (not merely found primary unreachable).
    pub fn failed(&self) -> Option<&str> {
        match &self.stopped {
            Some(Stopped::Failed(error)) => Some(error),
            _ => None,
        }
    }

    /// Repairs that failed, both tiers.
    pub fn repair_failures(&self) -> usize {
        self.status_pass.as_ref().map_or(0, |s| s.failed.len())
            + self.deep.as_ref().map_or(0, |d| d.failed.len())
    }
}

impl Report for ReconcileInvocation {
    fn sections(&self) -> Vec<Section> {
        let mut top = Section::top()
            .figure(Figure::flag("RepairsPaused", !self.repairs.apply()))
            .figure(Figure::flag(
                "PrimaryUnreachable",
                matches!(self.stopped, Some(Stopped::SourceUnreachable(_))),
            ))
            .figure(Figure::millis(
                "DurationMs",
                self.duration.as_secs_f64() * 1000.0,
            ))
            .fact(
                "mode",
                match &self.repairs {
                    Repairs::Apply => "apply",
                    Repairs::DryRun => "dry-run",
                    Repairs::ReportOnly(_) => "paused",
                },
            );
        if let Repairs::ReportOnly(why) = &self.repairs {
            top = top.fact("paused_because", why);
        }
        if let Some(stopped) = &self.stopped {
            top = top.fact("error", stopped.reason());
        }
        if let Some(deep) = &self.deep {
            top = top
                .figures(deep.counts.figures())
                .figure(Figure::count("Checked", deep.checked))
                .figure(Figure::count("Repaired", deep.repaired))
                .figure(Figure::count("RepairFailures", deep.failed.len() as u64))
                .figure(Figure::flag("PassesCompleted", deep.completed.is_some()))
                .fact("cursor", &deep.cursor)
                .details(deep.first.iter().map(describe_drift))
                .details(deep.failed.iter().map(|(id, error)| {
                    Detail::new("failed", id.as_str(), format!("{id}: {error}"))
                }));
            if let Some((started_ms, totals)) = deep.completed {
                let seconds = self.ended_ms.saturating_sub(started_ms).max(0) as f64 / 1000.0;
                top = top
                    .figure(Figure::count("PassCertificates", totals.checked))
                    .figure(Figure::seconds("PassSeconds", seconds));
            }
        }
        let mut sections = vec![top];
        if let Some(status) = &self.status_pass {
            sections.push(status_section(status));
        }
        let (status_age, deep_age) = self.oldest_unverified_ms;
        for (tier, age) in [("status", status_age), ("deep", deep_age)] {
            if let Some(age) = age {
                sections.push(Section::listed("freshness").dimension("Tier", tier).figure(
                    Figure::seconds("OldestUnverifiedSeconds", age as f64 / 1000.0),
                ));
            }
        }
        sections
    }
}

/// The status tier's section (dimension `Tier=status`).
fn status_section(report: &StatusPassReport) -> Section {
    Section::named("status_pass")
        .dimension("Tier", "status")
        .figures(report.counts.figures())
        .figure(Figure::count("Checked", report.source_certificates))
        .figure(Figure::count("Repaired", report.repaired))
        .figure(Figure::count("RepairFailures", report.failed.len() as u64))
        .figure(Figure::count(
            "RepairsLeftForNextPass",
            report.left_for_next_pass,
        ))
        .figure(Figure::count("SourceListCalls", report.source_calls))
        .figure(Figure::count("TargetListCalls", report.target_calls))
        .figure(Figure::flag(
            "PassesCompleted",
            report.completed_ms.is_some(),
        ))
        .fact("started_ms", report.started_ms)
        .fact("completed_ms", report.completed_ms)
        .fact("target_certificates", report.target_certificates)
        .details(report.first.iter().map(describe_status_drift))
        .details(
            report
                .failed
                .iter()
                .map(|(id, error)| Detail::new("failed", id.as_str(), format!("{id}: {error}"))),
        )
}

/// A deep-tier drift in words.
pub fn describe_drift(drift: &Drift) -> Detail {
    let id = drift.certificate_id().as_str();
    match drift {
        Drift::Missing(e) => Detail::new(
            "missing",
            id,
            format!("{} ({}) absent from the target", e.certificate_id, e.status),
        ),
        Drift::Mismatch {
            source,
            status,
            things,
            policies,
        } => {
            let mut what = Vec::new();
            if let Some(status) = status {
                what.push(format!(
                    "status {status} should be {}",
                    source.status.in_dr()
                ));
            }
            if *things {
                what.push("thing links differ".to_owned());
            }
            if *policies {
                what.push("policies differ".to_owned());
            }
            Detail::new("mismatch", id, format!("{id}: {}", what.join(", ")))
        }
        Drift::RevokedConflict { source_status, .. } => Detail::new(
            "conflict",
            id,
            format!(
                "{id} is REVOKED in the target but {source_status} in the source; kept revoked"
            ),
        ),
        Drift::Extra(_) => Detail::new(
            "extra",
            id,
            format!("{id} only in the target; reported, never deleted"),
        ),
    }
}

/// A status-tier drift in words.
pub fn describe_status_drift(drift: &StatusDrift) -> Detail {
    let id = drift.certificate_id().as_str();
    match drift {
        StatusDrift::Missing { source, .. } => Detail::new(
            "missing",
            id,
            format!("{id} ({source}) absent from the target"),
        ),
        StatusDrift::Status { source, target, .. } => Detail::new(
            "status",
            id,
            format!("{id}: {target} in the target, should be {}", source.in_dr()),
        ),
        StatusDrift::RevokedConflict { source, .. } => Detail::new(
            "conflict",
            id,
            format!("{id} is REVOKED in the target but {source} in the source; kept revoked"),
        ),
        StatusDrift::Extra { target, .. } => Detail::new(
            "extra",
            id,
            format!("{id} ({target}) only in the target; reported, never deleted"),
        ),
    }
}

/// Keep a completed status pass in the checkpoint (fenced like every save) and return the
/// cursor as saved; a pass cut short records nothing (`None`).
pub async fn record_status_pass<C: CheckpointStore>(
    store: &C,
    report: &StatusPassReport,
) -> Result<Option<PassCursor>, ReconcileError> {
    let Some(completed_ms) = report.completed_ms else {
        return Ok(None);
    };
    let (mut cursor, version) = match store.load().await.map_err(ReconcileError::Checkpoint)? {
        Some(checkpoint) => (checkpoint.cursor, checkpoint.version),
        None => (PassCursor::start(report.started_ms), 0),
    };
    cursor.last_status_pass = Some(CompletedStatusPass {
        started_ms: report.started_ms,
        completed_ms,
        counts: report.counts,
        repaired: report.repaired,
        source_certificates: report.source_certificates,
    });
    if store
        .save(&cursor, version)
        .await
        .map_err(ReconcileError::Checkpoint)?
    {
        Ok(Some(cursor))
    } else {
        Err(ReconcileError::Fenced(version))
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
