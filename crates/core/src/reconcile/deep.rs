//! The deep tier: reconcile passes that survive the end of an invocation.
//!
//! A pass walks the source's certificate listing a page at a time (the *source* phase): for
//! each page it reads the target's state of the same certificates by id, diffs the two
//! sorted windows and repairs through the replicator's own path (capture the source's state
//! as a message, apply it to the target: idempotent, ledger-guarded, revoked wins). Then it
//! walks the target's listing (the *extras* phase) to report certificates the source lacks.
//!
//! The position in that walk is a [`PassCursor`]: the phase, the listing marker and the
//! totals so far. It is saved after every page through a [`CheckpointStore`], so a fleet
//! too large for one invocation continues in the next, a crash repeats at most one page
//! (repairs are idempotent), and memory stays at one page whatever the fleet size. The
//! store is fenced by a version, so two reconcilers never walk the same pass at once.

use std::collections::BTreeSet;

use super::cursor::{
    CheckpointStore, CompletedPass, MemoryCheckpoint, PassCursor, PassTotals, Phase,
};
use super::diff::{diff, Drift, DriftCounts};
use super::inventory::{entry_of, DigestCaches};
use super::ports::{CertificateLister, ListOrder, ReconcileError, REPORTED_DRIFTS};
use super::status_pass::{ReportOnly, StatusDrift, StatusPass, StatusPassReport, StatusRepair};
use crate::certificate::CertificateId;
use crate::ids::ThingName;
use crate::port::PortError;
use crate::replication::apply::{apply, Change, Outcome, RECONCILE_CAUSE};
use crate::replication::capture::{capture, CaptureEvent, Trigger};
use crate::replication::message::{ReplicationMessage, SourceRef, Subject, SCHEMA_VERSION};
use crate::replication::ports::{ApplyLedger, DeviceRegistry};
use crate::replication::records::ShadowUpdate;
use crate::replication::shadow::{same_state, ShadowDocument};
use crate::replication::ArnRewrite;
use crate::time::EpochMillis;
use crate::{Side, Topology};

/// What one run (an invocation) found and did.
#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    /// Drift found in this run, by kind.
    pub counts: DriftCounts,
    /// The first drifts found, for a person to read.
    pub first: Vec<Drift>,
    /// Certificates looked at in this run.
    pub checked: u64,
    /// Repairs applied (0 in a dry run).
    pub repaired: u64,
    /// Repairs that failed, with why; the next pass retries them.
    pub failed: Vec<(CertificateId, String)>,
    /// The cursor after this run (the pass's totals so far, or a fresh pass).
    pub cursor: PassCursor,
    /// The totals of a pass this run completed, with its start time.
    pub completed: Option<(EpochMillis, PassTotals)>,
}

/// The deep tier walks newest first: recent registrations are the likeliest to have
/// drifted (a thing or policy attached after the certificate), and the status tier already
/// covers the whole fleet's ids and statuses within minutes.
const DEEP_ORDER: ListOrder = ListOrder::NewestFirst;

/// One direction of reconciliation: who is the source of truth, who is repaired, how.
#[derive(Debug)]
pub struct Reconciler<'a, S, T, L> {
    /// The source of truth.
    pub source: &'a S,
    /// The registry brought in line.
    pub target: &'a T,
    /// The replicator's ledger (or [`NoLedger`] for failback).
    pub ledger: &'a L,
    /// The source, as messages name it.
    pub source_ref: SourceRef,
    /// Source ARNs to target ARNs.
    pub rewrite: ArnRewrite,
    /// Repair, or only report (a dry run).
    pub apply_repairs: bool,
    /// Certificates per listing page (1..=250).
    pub page_size: u32,
}

/// Which way a reconcile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Normal operation: DR follows primary.
    PrimaryToDr,
    /// Failback: primary catches up with what DR took while it served.
    DrToPrimary,
}

impl Direction {
    /// The source of truth's side and the side brought in line.
    pub fn sides(self) -> (Side, Side) {
        match self {
            Direction::PrimaryToDr => (Side::Primary, Side::Dr),
            Direction::DrToPrimary => (Side::Dr, Side::Primary),
        }
    }
}

impl<'a, S, T, L> Reconciler<'a, S, T, L> {
    /// A reconciler from `source` to `target` in `direction` of `topology`: messages name
    /// the source side, ARNs are rewritten towards the target, pages are the topology's
    /// `[reconcile] page_size`, and nothing is repaired until [`Reconciler::repairing`].
    pub fn new(
        topology: &Topology,
        direction: Direction,
        source: &'a S,
        target: &'a T,
        ledger: &'a L,
    ) -> Self {
        let forward = ArnRewrite::primary_to_dr(topology);
        Self {
            source,
            target,
            ledger,
            source_ref: SourceRef::of(topology, direction.sides().0),
            rewrite: match direction {
                Direction::PrimaryToDr => forward,
                Direction::DrToPrimary => forward.reversed(),
            },
            apply_repairs: false,
            page_size: topology.reconcile.page_size,
        }
    }

    /// Repairing what it finds, or not (a dry run).
    pub fn repairing(mut self, apply_repairs: bool) -> Self {
        self.apply_repairs = apply_repairs;
        self
    }

    /// With `page_size` certificates per listing page (1..=250).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }
}

impl<S, T, L> Reconciler<'_, S, T, L>
where
    S: DeviceRegistry + CertificateLister + Sync,
    T: DeviceRegistry + CertificateLister + Sync,
    L: ApplyLedger + Sync,
{
    /// Continue the pass saved in `store` (or start one), a page at a time, while
    /// `keep_going(pages done in this run)` says so; `on_page` sees the phase of each page
    /// done and the pass's totals with it (progress). A pass that completes starts the next one at its first page.
    pub async fn run<C: CheckpointStore>(
        &self,
        store: &C,
        mut keep_going: impl FnMut(u64) -> bool,
        mut on_page: impl FnMut(Phase, &PassTotals),
        now: impl Fn() -> EpochMillis,
    ) -> Result<ReconcileReport, ReconcileError> {
        let (mut cursor, mut version) =
            match store.load().await.map_err(ReconcileError::Checkpoint)? {
                Some(checkpoint) => (checkpoint.cursor, checkpoint.version),
                None => (PassCursor::start(now()), 0),
            };
        let base = cursor.totals;
        let mut digests = DigestCaches::default();
        let mut report = ReconcileReport::default();
        let mut pages = 0;
        while keep_going(pages) {
            let next_marker = match cursor.phase {
                Phase::Source => {
                    self.source_page(&mut digests, &cursor, &mut report, &now)
                        .await?
                }
                Phase::Extras => self.extras_page(&cursor, &mut report).await?,
            };
            pages += 1;
            cursor.totals = base.plus(
                pages,
                report.checked,
                report.counts,
                report.repaired,
                report.failed.len() as u64,
            );
            let page_done = (cursor.phase, cursor.totals);
            match (cursor.phase, next_marker) {
                (_, Some(marker)) => cursor.marker = Some(marker),
                (Phase::Source, None) => {
                    cursor.phase = Phase::Extras;
                    cursor.marker = None;
                }
                (Phase::Extras, None) => {
                    report.completed = Some((cursor.started_ms, cursor.totals));
                    let completed_ms = now();
                    cursor = PassCursor {
                        last_pass: Some(CompletedPass {
                            started_ms: cursor.started_ms,
                            completed_ms,
                            totals: cursor.totals,
                        }),
                        last_status_pass: cursor.last_status_pass,
                        ..PassCursor::start(completed_ms)
                    };
                }
            }
            if !store
                .save(&cursor, version)
                .await
                .map_err(ReconcileError::Checkpoint)?
            {
                return Err(ReconcileError::Fenced(version));
            }
            version += 1;
            on_page(page_done.0, &page_done.1);
            if report.completed.is_some() {
                break;
            }
        }
        report.cursor = cursor;
        Ok(report)
    }

    /// A whole pass in one go, from the first page to the last (`drctl`, tests).
    pub async fn run_to_end(
        &self,
        now: impl Fn() -> EpochMillis,
    ) -> Result<ReconcileReport, ReconcileError> {
        self.run(&MemoryCheckpoint::default(), |_| true, |_, _| {}, now)
            .await
    }

    /// Compare one page of the source's certificates with the target's state of the same
    /// certificates; repair what differs. Returns the listing's next marker.
    async fn source_page(
        &self,
        digests: &mut DigestCaches,
        cursor: &PassCursor,
        report: &mut ReconcileReport,
        now: &impl Fn() -> EpochMillis,
    ) -> Result<Option<String>, ReconcileError> {
        let page = self
            .source
            .certificate_page(cursor.marker.as_deref(), self.page_size, DEEP_ORDER)
            .await
            .map_err(ReconcileError::SourceUnreachable)?;
        let mut listed = page.certificates;
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        listed.dedup_by(|a, b| a.0 == b.0);
        let (target_account, target_region) = self.rewrite.target();
        let mut source_window = Vec::with_capacity(listed.len());
        let mut target_window = Vec::with_capacity(listed.len());
        for (id, status) in listed {
            let Some(source_entry) = entry_of(
                self.source,
                &mut digests.0,
                id.clone(),
                Some(status),
                &self.source_ref.account_id,
                &self.source_ref.region,
            )
            .await
            .map_err(ReconcileError::SourceUnreachable)?
            else {
                continue; // deleted since it was listed
            };
            source_window.push(source_entry);
            if let Some(target_entry) = entry_of(
                self.target,
                &mut digests.1,
                id,
                None,
                target_account,
                target_region,
            )
            .await
            .map_err(ReconcileError::TargetUnreachable)?
            {
                target_window.push(target_entry);
            }
        }
        report.checked += source_window.len() as u64;
        let things: Vec<(CertificateId, ThingName)> = source_window
            .iter()
            .flat_map(|e| {
                e.things
                    .iter()
                    .map(|(t, _)| (e.certificate_id.clone(), t.clone()))
            })
            .collect();
        for drift in diff(source_window, target_window) {
            self.handle(drift, report, now).await;
        }
        // After the certificate repairs, which create the things groups and shadows need.
        self.things_page(things, report, now).await?;
        Ok(page.next_marker)
    }

    /// Compare what the things on one page's certificates carry beyond the certificate —
    /// their thing-group memberships and their shadows — with the target's, each thing
    /// once. Memberships that differ are repaired as the replicator would, by the thing's
    /// own message (capture reads its groups with their ancestry, apply creates what the
    /// target lacks and adds or removes it; a thing message read before a group's deletion
    /// does not bring the group back). Shadows are compared by their desired and reported
    /// state, classic and named, and repaired by the replicator's per-leaf merge: a leaf
    /// the target wrote later than the source is kept (after a failover, DR's devices and
    /// apps write its shadows), so such a shadow stays counted, pass after pass, until the
    /// source catches up. A shadow only the target has is left alone, as extra certificates
    /// are. A side that does not answer stops the run as for certificates; any other
    /// failure (a refused call, an unreadable document) is that thing's alone: recorded,
    /// and the walk goes on.
    async fn things_page(
        &self,
        things: Vec<(CertificateId, ThingName)>,
        report: &mut ReconcileReport,
        now: &impl Fn() -> EpochMillis,
    ) -> Result<(), ReconcileError> {
        let mut seen = BTreeSet::new();
        for (certificate, thing) in things {
            if !seen.insert(thing.clone()) {
                continue; // a thing shared by two certificates is compared once
            }
            let compared = async {
                self.thing_memberships(&thing, report, now).await?;
                self.thing_shadows(&thing, report).await
            }
            .await;
            match compared {
                Ok(()) => {}
                Err(ThingFailure::Stop(error)) => return Err(error),
                Err(ThingFailure::Thing(error)) => report
                    .failed
                    .push((certificate, format!("thing {thing}: {error}"))),
            }
        }
        Ok(())
    }

    async fn thing_memberships(
        &self,
        thing: &ThingName,
        report: &mut ReconcileReport,
        now: &impl Fn() -> EpochMillis,
    ) -> Result<(), ThingFailure> {
        let source = |e| ThingFailure::of(e, ReconcileError::SourceUnreachable);
        let target = |e| ThingFailure::of(e, ReconcileError::TargetUnreachable);
        let in_source = self.source.thing_group_names(thing).await.map_err(source)?;
        let in_target = self.target.thing_group_names(thing).await.map_err(target)?;
        if in_source == in_target {
            return Ok(());
        }
        report.counts.memberships += 1;
        if self.apply_repairs {
            self.repair(vec![Trigger::Thing(thing.clone())], now)
                .await
                .map_err(ThingFailure::Thing)?;
            report.repaired += 1;
        }
        Ok(())
    }

    async fn thing_shadows(
        &self,
        thing: &ThingName,
        report: &mut ReconcileReport,
    ) -> Result<(), ThingFailure> {
        let source = |e| ThingFailure::of(e, ReconcileError::SourceUnreachable);
        let target = |e| ThingFailure::of(e, ReconcileError::TargetUnreachable);
        let named = self.source.shadow_names(thing).await.map_err(source)?;
        for name in std::iter::once(None).chain(named.into_iter().map(Some)) {
            let name = name.as_deref();
            let Some(in_source) = self.source.shadow(thing, name).await.map_err(source)? else {
                continue;
            };
            let in_target = self.target.shadow(thing, name).await.map_err(target)?;
            if same_state(Some(&in_source), in_target.as_ref()) {
                continue;
            }
            report.counts.shadows += 1;
            if self.apply_repairs
                && self
                    .repair_shadow(thing, name, in_source)
                    .await
                    .map_err(ThingFailure::Thing)?
            {
                report.repaired += 1;
            }
        }
        Ok(())
    }

    /// Repair one shadow through the replicator's own path: the source's document as read is
    /// applied as an update with no `previous`, ordered by its own version and timestamp
    /// (the time it was current), merged against the ledger's base. A ledger that applied
    /// this version or a newer one makes it stale: DR differs by its own writes, which stay.
    /// Whether DR's shadow was written.
    async fn repair_shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
        in_source: ShadowDocument,
    ) -> Result<bool, PortError> {
        let observed_at_ms = in_source.timestamp.saturating_mul(1000);
        let message = ReplicationMessage {
            schema_version: SCHEMA_VERSION,
            source: self.source_ref.clone(),
            cause: RECONCILE_CAUSE.to_owned(),
            event_time_ms: observed_at_ms,
            observed_at_ms,
            subject: Subject::Shadow(Box::new(ShadowUpdate {
                thing_name: thing.clone(),
                shadow_name: name.map(str::to_owned),
                previous: None,
                current: in_source,
            })),
        };
        let outcome = apply(&message, &self.rewrite, self.target, self.ledger)
            .await
            .map_err(|e| PortError::permanent("apply", e.to_string()))?;
        Ok(matches!(outcome, Outcome::Applied { changes }
            if changes.iter().any(|c| matches!(c, Change::Shadow(_)))))
    }

    /// Report the certificates on one page of the target's listing that the source lacks.
    async fn extras_page(
        &self,
        cursor: &PassCursor,
        report: &mut ReconcileReport,
    ) -> Result<Option<String>, ReconcileError> {
        let page = self
            .target
            .certificate_page(cursor.marker.as_deref(), self.page_size, DEEP_ORDER)
            .await
            .map_err(ReconcileError::TargetUnreachable)?;
        report.checked += page.certificates.len() as u64;
        for (id, _) in page.certificates {
            let known = self
                .source
                .certificate(&id)
                .await
                .map_err(ReconcileError::SourceUnreachable)?;
            if known.is_none() {
                record_drift(report, Drift::Extra(id));
            }
        }
        Ok(page.next_marker)
    }

    async fn handle(
        &self,
        drift: Drift,
        report: &mut ReconcileReport,
        now: &impl Fn() -> EpochMillis,
    ) {
        let repairable = matches!(drift, Drift::Missing(_) | Drift::Mismatch { .. });
        let id = drift.certificate_id().clone();
        // A certificate message only creates policies the target lacks; a document that
        // differs travels as a policy message of its own.
        let mut triggers = vec![Trigger::Certificate(id.clone())];
        if let Drift::Mismatch {
            source,
            policies: true,
            ..
        } = &drift
        {
            triggers.extend(
                source
                    .policies
                    .iter()
                    .map(|(name, _)| Trigger::Policy(name.clone())),
            );
        }
        record_drift(report, drift);
        if !(self.apply_repairs && repairable) {
            return;
        }
        match self.repair(triggers, now).await {
            Ok(()) => report.repaired += 1,
            Err(error) => report.failed.push((id, error.to_string())),
        }
    }

    /// Repair through the replicator's own path: capture the source's state now, apply it
    /// to the target (idempotent, ledger-guarded, revoked wins).
    async fn repair(
        &self,
        triggers: Vec<Trigger>,
        now: &(impl Fn() -> EpochMillis + ?Sized),
    ) -> Result<(), PortError> {
        let event = CaptureEvent {
            cause: RECONCILE_CAUSE.to_owned(),
            event_time_ms: now(),
            triggers,
            subjects: Vec::new(),
            detached: Vec::new(),
        };
        for message in capture(&event, self.source, &self.source_ref, now).await? {
            apply(&message, &self.rewrite, self.target, self.ledger)
                .await
                .map_err(|e| PortError::permanent("apply", e.to_string()))?;
        }
        Ok(())
    }

    /// The status tier: both listings compared by id and status only, repairs (revocations
    /// first) through the same path as the deep pass; see [`StatusPass`].
    pub async fn status_pass(
        &self,
        keep_going: impl FnMut() -> bool,
        now: &(dyn Fn() -> EpochMillis + Sync),
    ) -> Result<StatusPassReport, ReconcileError> {
        self.status_pass_observed(keep_going, now, &|_| {}).await
    }

    /// [`Reconciler::status_pass`], telling `on_repair` of each repair attempted (progress
    /// for a person watching a backfill).
    pub async fn status_pass_observed(
        &self,
        keep_going: impl FnMut() -> bool,
        now: &(dyn Fn() -> EpochMillis + Sync),
        on_repair: &(dyn Fn(&StatusDrift) + Sync),
    ) -> Result<StatusPassReport, ReconcileError> {
        let pass = StatusPass {
            source: self.source,
            target: self.target,
            page_size: self.page_size,
        };
        if self.apply_repairs {
            let repairer = CaptureAndApply {
                reconciler: self,
                now,
                on_repair,
            };
            pass.run(&repairer, keep_going, now).await
        } else {
            pass.run(&ReportOnly, keep_going, now).await
        }
    }
}

/// A status pass's repairs, through [`Reconciler`]'s capture-and-apply path.
struct CaptureAndApply<'r, 'a, S, T, L> {
    reconciler: &'r Reconciler<'a, S, T, L>,
    now: &'r (dyn Fn() -> EpochMillis + Sync),
    on_repair: &'r (dyn Fn(&StatusDrift) + Sync),
}

impl<S, T, L> StatusRepair for CaptureAndApply<'_, '_, S, T, L>
where
    S: DeviceRegistry + CertificateLister + Sync,
    T: DeviceRegistry + CertificateLister + Sync,
    L: ApplyLedger + Sync,
{
    async fn repair(&self, drift: &StatusDrift) -> Result<(), PortError> {
        let trigger = Trigger::Certificate(drift.certificate_id().clone());
        let outcome = self.reconciler.repair(vec![trigger], self.now).await;
        (self.on_repair)(drift);
        outcome
    }
}

/// Why one thing's memberships or shadows could not be compared.
enum ThingFailure {
    /// A side did not answer: the run stops, as it does for certificates.
    Stop(ReconcileError),
    /// Anything else: this thing's alone.
    Thing(PortError),
}

impl ThingFailure {
    fn of(error: PortError, unreachable: fn(PortError) -> ReconcileError) -> Self {
        if error.no_answer.is_some() {
            Self::Stop(unreachable(error))
        } else {
            Self::Thing(error)
        }
    }
}

fn record_drift(report: &mut ReconcileReport, drift: Drift) {
    report.counts.add(&drift);
    if report.first.len() < REPORTED_DRIFTS {
        report.first.push(drift);
    }
}

#[cfg(test)]
#[path = "deep_tests.rs"]
mod tests;
