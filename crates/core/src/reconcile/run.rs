//! Reconcile passes that survive the end of an invocation.
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

use crate::port::PortError;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::status_pass::{
    ReportOnly, StatusDrift, StatusDriftCounts, StatusPass, StatusPassReport, StatusRepair,
};
use super::{diff, Drift, DriftCounts, InventoryEntry, PolicyDigest};
use crate::certificate::{CertificateId, CertificateStatus};
use crate::ids::{AccountId, PolicyName, Region, ThingName};
use crate::replication::apply::{apply, bring_shadow};
use crate::replication::capture::{capture, CaptureEvent, Trigger};
use crate::replication::message::SourceRef;
use crate::replication::ports::{
    ApplyLedger, CertificateRegistry, DeviceRegistry, LedgerEntry, Recorded,
};
use crate::replication::ArnRewrite;
use crate::time::EpochMillis;

/// One page of a registry's certificate listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificatePage {
    /// The certificates on the page with their status, in the listing's order.
    pub certificates: Vec<(CertificateId, CertificateStatus)>,
    /// Where the next page starts; `None` on the last page.
    pub next_marker: Option<String>,
}

/// Which end of the listing comes first (ListCertificates orders by creation date).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// Oldest first: the order in which DR receives certificates (the status tier's join).
    #[default]
    OldestFirst,
    /// Newest first: the deep tier reaches recent registrations (the likeliest to have
    /// drifted) before the old fleet.
    NewestFirst,
}

/// A registry that can list its certificates a page at a time.
pub trait CertificateLister {
    /// The page starting at `marker` (`None`: the first page), at most `page_size` long,
    /// in `order`; a marker belongs to the order it was given in.
    fn certificate_page(
        &self,
        marker: Option<&str>,
        page_size: u32,
        order: ListOrder,
    ) -> impl Future<Output = Result<CertificatePage, PortError>> + Send;
}

/// How many certificates `lister` holds, by status: the whole listing, a page at a time
/// (one call per [`MAX_PAGE_SIZE`] certificates).
pub async fn count_by_status<L: CertificateLister + Sync>(
    lister: &L,
) -> Result<std::collections::BTreeMap<CertificateStatus, u64>, PortError> {
    let mut counts = std::collections::BTreeMap::new();
    let mut marker = None;
    loop {
        let page = lister
            .certificate_page(marker.as_deref(), MAX_PAGE_SIZE, ListOrder::OldestFirst)
            .await?;
        for (_, status) in page.certificates {
            *counts.entry(status).or_default() += 1;
        }
        marker = page.next_marker;
        if marker.is_none() {
            return Ok(counts);
        }
    }
}

/// The ledger for a direction that keeps none (failback writes to primary, whose state
/// is being rebuilt): every repair applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLedger;

impl ApplyLedger for NoLedger {
    async fn entry(&self, _key: &str) -> Result<Option<LedgerEntry>, PortError> {
        Ok(None)
    }

    async fn record(&self, _key: &str, _entry: LedgerEntry) -> Result<Recorded, PortError> {
        Ok(Recorded::Recorded)
    }
}

/// Which listing a pass is walking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The source's certificates, each compared with the target's.
    #[default]
    Source,
    /// The target's certificates, looking for ones the source lacks.
    Extras,
}

/// Everything a pass has found and done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassTotals {
    /// Pages read, both phases.
    pub pages: u64,
    /// Certificates looked at, both phases.
    pub checked: u64,
    /// Drift by kind.
    pub drift: DriftCounts,
    /// Repairs applied.
    pub repaired: u64,
    /// Repairs that failed (the next pass retries them).
    pub failed: u64,
}

impl PassTotals {
    /// These totals with a run's `pages` and `report` added.
    fn plus(self, pages: u64, report: &ReconcileReport) -> Self {
        let (d, r) = (self.drift, report.counts);
        Self {
            pages: self.pages + pages,
            checked: self.checked + report.checked,
            drift: DriftCounts {
                missing: d.missing + r.missing,
                mismatched: d.mismatched + r.mismatched,
                conflicts: d.conflicts + r.conflicts,
                extra: d.extra + r.extra,
                status: d.status + r.status,
                thing_links: d.thing_links + r.thing_links,
                policies: d.policies + r.policies,
                memberships: d.memberships + r.memberships,
                shadows: d.shadows + r.shadows,
            },
            repaired: self.repaired + report.repaired,
            failed: self.failed + report.failed.len() as u64,
        }
    }
}

/// Where a pass stands: what a checkpoint stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassCursor {
    /// When the pass started.
    pub started_ms: EpochMillis,
    /// The listing being walked.
    pub phase: Phase,
    /// The marker of the next page of that listing (`None`: its first page).
    pub marker: Option<String>,
    /// The pass so far.
    pub totals: PassTotals,
    /// The last completed pass: when it started and ended, and what it found.
    #[serde(default)]
    pub last_pass: Option<CompletedPass>,
    /// The last completed status pass (the other tier), kept here so both tiers' freshness
    /// lives in one fenced item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_pass: Option<CompletedStatusPass>,
}

/// A status pass that reached its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedStatusPass {
    /// When its walk began: every certificate listed was verified at least then.
    pub started_ms: EpochMillis,
    /// When it completed.
    pub completed_ms: EpochMillis,
    /// What it found.
    pub counts: StatusDriftCounts,
    /// Repairs it applied.
    pub repaired: u64,
    /// Certificates the source listed.
    pub source_certificates: u64,
}

impl PassCursor {
    /// How long ago each tier last verified every certificate (`None`: never): the status
    /// tier, the deep tier. A pass verifies a certificate no later than when it started.
    pub fn oldest_unverified_ms(&self, now: EpochMillis) -> (Option<i64>, Option<i64>) {
        let age = |started_ms: EpochMillis| now.saturating_sub(started_ms).max(0);
        (
            self.last_status_pass.map(|p| age(p.started_ms)),
            self.last_pass.map(|p| age(p.started_ms)),
        )
    }

    /// Whether a status pass is due, `every_ms` after the last one started.
    pub fn status_pass_due(&self, now: EpochMillis, every_ms: i64) -> bool {
        self.last_status_pass
            .is_none_or(|p| now.saturating_sub(p.started_ms) >= every_ms)
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

/// A pass that reached its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedPass {
    /// When it started.
    pub started_ms: EpochMillis,
    /// When it completed.
    pub completed_ms: EpochMillis,
    /// What it found and did.
    pub totals: PassTotals,
}

impl PassCursor {
    /// A pass starting now.
    pub fn start(now: EpochMillis) -> Self {
        Self {
            started_ms: now,
            ..Self::default()
        }
    }
}

/// A saved cursor and the version that fences it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The cursor.
    pub cursor: PassCursor,
    /// Bumped by every save; a save must name the version it read.
    pub version: u64,
}

/// Where a reconciler keeps its cursor between invocations.
pub trait CheckpointStore {
    /// The saved checkpoint, if any.
    fn load(&self) -> impl Future<Output = Result<Option<Checkpoint>, PortError>> + Send;
    /// Save `cursor` as version `expected + 1`, only if the stored version is still
    /// `expected` (0: nothing stored). `Ok(false)` when another reconciler saved first.
    fn save(
        &self,
        cursor: &PassCursor,
        expected: u64,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// A checkpoint that lives as long as the process: for a pass run to its end in one go
/// (`drctl reconcile`, tests).
#[derive(Debug, Default)]
pub struct MemoryCheckpoint(Mutex<Option<Checkpoint>>);

impl CheckpointStore for MemoryCheckpoint {
    async fn load(&self) -> Result<Option<Checkpoint>, PortError> {
        Ok(self.0.lock().expect("not poisoned").clone())
    }

    async fn save(&self, cursor: &PassCursor, expected: u64) -> Result<bool, PortError> {
        let mut stored = self.0.lock().expect("not poisoned");
        if stored.as_ref().map_or(0, |c| c.version) != expected {
            return Ok(false);
        }
        *stored = Some(Checkpoint {
            cursor: cursor.clone(),
            version: expected + 1,
        });
        Ok(true)
    }
}

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

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The source registry could not be read — during an outage of primary, the signal
    /// operators need ("primary unreachable"), distinct from drift.
    #[error("cannot read the source registry: {0}")]
    SourceUnreachable(#[source] PortError),
    /// The target registry could not be read.
    #[error("cannot read the target registry: {0}")]
    TargetUnreachable(#[source] PortError),
    /// The checkpoint could not be read or written.
    #[error("cannot read or write the reconcile checkpoint: {0}")]
    Checkpoint(#[source] PortError),
    /// Another reconciler saved the checkpoint since this one read it: it owns the pass.
    #[error(
        "another reconciler is walking this pass (checkpoint version moved past {0}); stopping"
    )]
    Fenced(u64),
}

/// How many drifts a report keeps verbatim.
pub const REPORTED_DRIFTS: usize = 20;

/// ListCertificates' largest page.
pub const MAX_PAGE_SIZE: u32 = 250;

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
            cursor.totals = base.plus(pages, &report);
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
                    .map(|t| (e.certificate_id.clone(), t.clone()))
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
                && bring_shadow(
                    self.target,
                    thing,
                    name,
                    None,
                    &in_source,
                    in_target.as_ref(),
                )
                .await
                .map_err(target)?
            {
                report.repaired += 1;
            }
        }
        Ok(())
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
            cause: "reconcile".to_owned(),
            event_time_ms: now(),
            triggers,
            subjects: Vec::new(),
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

/// Whether two shadows hold the same desired and reported state; an empty section, and a
/// shadow with nothing in it, equal an absent one (the shadow service keeps no empty
/// leaves, so no update could make them differ).
fn same_state(
    a: Option<&crate::replication::shadow::ShadowDocument>,
    b: Option<&crate::replication::shadow::ShadowDocument>,
) -> bool {
    fn settled(value: Option<&serde_json::Value>) -> Option<&serde_json::Value> {
        value.filter(|v| !v.is_null() && v.as_object().is_none_or(|m| !m.is_empty()))
    }
    fn sections(
        d: Option<&crate::replication::shadow::ShadowDocument>,
    ) -> (Option<&serde_json::Value>, Option<&serde_json::Value>) {
        (
            settled(d.and_then(|d| d.state.desired.as_ref())),
            settled(d.and_then(|d| d.state.reported.as_ref())),
        )
    }
    sections(a) == sections(b)
}

/// Policy digests read in this run: the source's, the target's.
type DigestCaches = (
    HashMap<PolicyName, Option<PolicyDigest>>,
    HashMap<PolicyName, Option<PolicyDigest>>,
);

fn record_drift(report: &mut ReconcileReport, drift: Drift) {
    report.counts.add(&drift);
    if report.first.len() < REPORTED_DRIFTS {
        report.first.push(drift);
    }
}

/// A certificate as `registry` has it, reduced to what the diff compares; `None` if the
/// registry has no such certificate. `listed_status` saves a read when a listing gave it.
/// `digests` caches policy digests for one run: a fleet shares a handful of policies, so
/// reading each document once per certificate would double the calls (a document edited
/// mid-run is compared at the next run).
async fn entry_of<R: CertificateRegistry + Sync>(
    registry: &R,
    digests: &mut HashMap<PolicyName, Option<PolicyDigest>>,
    id: CertificateId,
    listed_status: Option<CertificateStatus>,
    account: &AccountId,
    region: &Region,
) -> Result<Option<InventoryEntry>, PortError> {
    let status = match listed_status {
        Some(status) => status,
        None => match registry.certificate(&id).await? {
            Some(view) => view.status,
            None => return Ok(None),
        },
    };
    let things = registry
        .certificate_things(&id)
        .await?
        .into_iter()
        .collect();
    let mut policies = Vec::new();
    for name in registry.certificate_policy_names(&id).await? {
        let digest = match digests.get(&name) {
            Some(digest) => *digest,
            None => {
                let digest = registry
                    .policy(&name)
                    .await?
                    .map(|p| PolicyDigest::of(&p.document, account, region));
                digests.insert(name.clone(), digest);
                digest
            }
        };
        // A policy deleted between the two reads is simply not attached any more.
        if let Some(digest) = digest {
            policies.push((name, digest));
        }
    }
    Ok(Some(InventoryEntry {
        certificate_id: id,
        status,
        things,
        policies,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::CertificatePem;
    use crate::replication::fake::{rewrite, source_ref, FakeLedger, FakeRegistry};

    fn pem() -> CertificatePem {
        CertificatePem::parse(&crate::certificate::tests::generated_pem()).unwrap()
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// Primary with `n` ACTIVE certificates, DR empty.
    async fn fleet(n: usize) -> (FakeRegistry, FakeRegistry, Vec<CertificatePem>) {
        let (primary, dr) = (FakeRegistry::default(), FakeRegistry::default());
        let pems: Vec<_> = (0..n).map(|_| pem()).collect();
        for p in &pems {
            primary
                .register_certificate(p, None, CertificateStatus::Active)
                .await
                .unwrap();
        }
        (primary, dr, pems)
    }

    /// Primary with one ACTIVE certificate attached to thing `wearable-1`, DR empty.
    async fn fleet_with_a_thing() -> (FakeRegistry, FakeRegistry, crate::ids::ThingName) {
        let (primary, dr, pems) = fleet(1).await;
        let thing: crate::ids::ThingName = "wearable-1".parse().unwrap();
        primary
            .put_thing(&crate::replication::message::ThingRecord {
                thing_name: thing.clone(),
                thing_type: None,
                attributes: Default::default(),
                groups: None,
            })
            .await
            .unwrap();
        primary.attach_thing(&thing, pems[0].id()).await.unwrap();
        (primary, dr, thing)
    }

    fn reconciler<'a>(
        primary: &'a FakeRegistry,
        dr: &'a FakeRegistry,
        ledger: &'a FakeLedger,
        apply_repairs: bool,
        page_size: u32,
    ) -> Reconciler<'a, FakeRegistry, FakeRegistry, FakeLedger> {
        Reconciler {
            source: primary,
            target: dr,
            ledger,
            source_ref: source_ref(),
            rewrite: rewrite(),
            apply_repairs,
            page_size,
        }
    }

    #[test]
    fn a_dry_run_reports_and_an_apply_repairs_all_but_conflicts_and_extras() {
        block_on(async {
            let (primary, dr, pems) = fleet(3).await;
            let [missing, stale, conflict] = &pems[..] else {
                unreachable!()
            };
            dr.register_certificate(stale, None, CertificateStatus::Inactive)
                .await
                .unwrap();
            dr.register_certificate(conflict, None, CertificateStatus::Revoked)
                .await
                .unwrap();
            let extra = pem();
            dr.register_certificate(&extra, None, CertificateStatus::Active)
                .await
                .unwrap();
            let ledger = FakeLedger::default();
            let now = || 1_000;

            let dry = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            let c = dry.counts;
            assert_eq!(
                (c.missing, c.mismatched, c.conflicts, c.extra),
                (1, 1, 1, 1)
            );
            assert_eq!(dry.repaired, 0);
            assert_eq!(dry.completed.map(|(_, t)| t.drift), Some(c));
            assert!(
                !dr.snapshot().certificates.contains_key(missing.id()),
                "a dry run changes nothing"
            );

            let applied = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(applied.repaired, 2, "{:?}", applied.failed);
            let world = dr.snapshot();
            assert_eq!(
                world.certificates[missing.id()].1,
                CertificateStatus::Active
            );
            assert_eq!(world.certificates[stale.id()].1, CertificateStatus::Active);
            assert_eq!(
                world.certificates[conflict.id()].1,
                CertificateStatus::Revoked,
                "revoked wins"
            );
            assert!(
                world.certificates.contains_key(extra.id()),
                "extras are never deleted"
            );

            let after = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!((after.counts.missing, after.counts.mismatched), (0, 0));
        });
    }

    #[test]
    fn group_memberships_the_replicator_missed_are_found_and_repaired_through_the_thing_s_message()
    {
        use crate::replication::ThingGroupRegistry;
        block_on(async {
            let (primary, dr, thing) = fleet_with_a_thing().await;
            let (hospital, ward) = ("hospital".parse().unwrap(), "ward-7".parse().unwrap());
            primary.ensure_thing_group(&hospital, None).await.unwrap();
            primary
                .ensure_thing_group(&ward, Some(&hospital))
                .await
                .unwrap();
            primary.add_to_group(&thing, &ward).await.unwrap();
            let ledger = FakeLedger::default();
            // Time moves on between passes: a repair is a newer message than the last one.
            let clock = std::sync::atomic::AtomicI64::new(1_000);
            let now = || clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst);

            let dry = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(dry.counts.memberships, 1, "{:?}", dry.counts);
            assert!(
                dr.snapshot().memberships.is_empty(),
                "a dry run changes nothing"
            );
            let applied = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(
                applied.counts.memberships, 1,
                "the certificate message carries no groups"
            );
            assert!(applied.failed.is_empty(), "{:?}", applied.failed);
            let world = dr.snapshot();
            assert!(world.memberships.contains(&(thing.clone(), ward.clone())));
            assert_eq!(world.groups[&ward].ancestors, vec![hospital.clone()]);

            // Removed in DR behind the replicator's back: found again, repaired again.
            dr.remove_from_group(&thing, &ward).await.unwrap();
            let again = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(again.counts.memberships, 1);
            let settled = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(settled.counts.memberships, 0);
            assert!(dr.snapshot().memberships.contains(&(thing, ward)));
        });
    }

    #[test]
    fn an_empty_shadow_section_equals_an_absent_one_and_a_value_does_not() {
        use crate::replication::shadow::ShadowDocument;
        let with = |desired: Option<serde_json::Value>| {
            let mut doc = ShadowDocument::default();
            doc.state.desired = desired;
            doc
        };
        let empty = with(Some(serde_json::json!({})));
        assert!(same_state(Some(&empty), None));
        assert!(same_state(Some(&empty), Some(&with(None))));
        assert!(same_state(Some(&with(Some(serde_json::Value::Null))), None));
        let set = with(Some(serde_json::json!({"rate_hz": 10})));
        assert!(!same_state(Some(&set), None));
        assert!(!same_state(Some(&set), Some(&empty)));
    }

    #[test]
    fn shadows_of_the_certificates_things_are_compared_and_repaired_without_undoing_dr_s_newer_writes(
    ) {
        use crate::replication::ShadowStore;
        block_on(async {
            let (primary, dr, thing) = fleet_with_a_thing().await;
            primary.world.lock().unwrap().shadow_clock = 100;
            let desired = |v: serde_json::Value| serde_json::json!({"state": {"desired": v}});
            for (name, state) in [
                (None, serde_json::json!({"rate_hz": 10, "threshold": 120})),
                (Some("alerts"), serde_json::json!({"escalate_after_s": 30})),
            ] {
                primary
                    .update_shadow(&thing, name, &desired(state))
                    .await
                    .unwrap();
            }
            let ledger = FakeLedger::default();
            let now = || 1_000;

            let dry = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(dry.counts.shadows, 2, "both shadows missing in DR");
            assert!(
                dr.snapshot().shadows.is_empty(),
                "a dry run changes nothing"
            );

            let applied = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert!(applied.failed.is_empty(), "{:?}", applied.failed);
            for name in [None, Some("alerts")] {
                assert_eq!(
                    dr.shadow(&thing, name).await.unwrap().unwrap().state,
                    primary.shadow(&thing, name).await.unwrap().unwrap().state,
                    "{name:?}"
                );
            }

            // DR serves (a failover): an app raises the threshold there, later than primary
            // last wrote it. The comparison still sees the difference; the repair keeps DR's.
            dr.world.lock().unwrap().shadow_clock = 200;
            dr.update_shadow(
                &thing,
                None,
                &desired(serde_json::json!({"threshold": 140})),
            )
            .await
            .unwrap();
            let again = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(again.counts.shadows, 1);
            let kept = dr.shadow(&thing, None).await.unwrap().unwrap();
            assert_eq!(
                kept.state.desired.unwrap()["threshold"],
                140,
                "never backwards"
            );

            // Primary writes later still: the next pass brings DR to it.
            primary.world.lock().unwrap().shadow_clock = 300;
            primary
                .update_shadow(
                    &thing,
                    None,
                    &desired(serde_json::json!({"threshold": 150})),
                )
                .await
                .unwrap();
            reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            let settled = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
                .run_to_end(now)
                .await
                .unwrap();
            assert_eq!(settled.counts.shadows, 0);
        });
    }

    #[test]
    fn a_pass_continues_from_its_checkpoint_one_page_per_run_and_repairs_everything_once() {
        block_on(async {
            let (primary, dr, pems) = fleet(7).await;
            let ledger = FakeLedger::default();
            let store = MemoryCheckpoint::default();
            let now = || 5_000;
            let reconciler = reconciler(&primary, &dr, &ledger, true, 2);
            let mut runs = 0;
            let completed = loop {
                runs += 1;
                assert!(runs < 20, "the pass never completes");
                let report = reconciler
                    .run(&store, |pages| pages < 1, |_, _| {}, now)
                    .await
                    .unwrap();
                if let Some((_, totals)) = report.completed {
                    break totals;
                }
            };
            // 7 certificates in pages of 2 → 4 source pages; DR then has 7 → 4 extras pages.
            assert_eq!(runs, 8);
            assert_eq!(completed.pages, 8);
            assert_eq!(completed.drift.missing, 7);
            assert_eq!(completed.repaired, 7);
            assert_eq!(completed.checked, 14);
            for p in &pems {
                assert!(dr.snapshot().certificates.contains_key(p.id()));
            }
            let fresh = store.load().await.unwrap().unwrap().cursor;
            assert_eq!(
                (fresh.phase, fresh.marker, fresh.totals),
                (Phase::Source, None, PassTotals::default()),
                "the next pass starts afresh"
            );
            assert_eq!(fresh.last_pass.map(|p| p.totals), Some(completed));
        });
    }

    #[test]
    fn the_deep_pass_reaches_the_newest_certificates_first() {
        block_on(async {
            // The fake lists by id: "newest" is the highest id.
            let (primary, dr, pems) = fleet(5).await;
            let ledger = FakeLedger::default();
            let store = MemoryCheckpoint::default();
            let first = reconciler(&primary, &dr, &ledger, true, 2)
                .run(&store, |pages| pages < 1, |_, _| {}, || 1)
                .await
                .unwrap();
            assert_eq!(first.repaired, 2);
            let mut ids: Vec<_> = pems.iter().map(|p| p.id().clone()).collect();
            ids.sort();
            let repaired: Vec<_> = dr.snapshot().certificates.into_keys().collect();
            assert_eq!(
                repaired,
                ids[3..].to_vec(),
                "the two newest, before the rest"
            );
        });
    }

    #[test]
    fn a_second_reconciler_with_a_stale_checkpoint_is_fenced_and_changes_nothing() {
        block_on(async {
            let (primary, dr, _) = fleet(4).await;
            let ledger = FakeLedger::default();
            let store = MemoryCheckpoint::default();
            let now = || 1;
            let first = reconciler(&primary, &dr, &ledger, true, 2);
            // Both read version 0; the first saves, the second must stop.
            let stale = store.load().await.unwrap();
            first.run(&store, |p| p < 1, |_, _| {}, now).await.unwrap();
            let racing = StaleStore {
                inner: &store,
                seen: stale,
            };
            let error = first
                .run(&racing, |p| p < 1, |_, _| {}, now)
                .await
                .unwrap_err();
            assert!(matches!(error, ReconcileError::Fenced(0)), "{error}");
            assert_eq!(store.load().await.unwrap().unwrap().version, 1);
        });
    }

    /// A store whose load returns what a racing reconciler read before the other saved.
    struct StaleStore<'a> {
        inner: &'a MemoryCheckpoint,
        seen: Option<Checkpoint>,
    }

    impl CheckpointStore for StaleStore<'_> {
        async fn load(&self) -> Result<Option<Checkpoint>, PortError> {
            Ok(self.seen.clone())
        }

        async fn save(&self, cursor: &PassCursor, expected: u64) -> Result<bool, PortError> {
            self.inner.save(cursor, expected).await
        }
    }

    #[test]
    fn a_source_that_cannot_be_read_is_reported_as_unreachable_and_the_cursor_stays() {
        block_on(async {
            let (primary, dr, _) = fleet(1).await;
            let ledger = FakeLedger::default();
            let store = MemoryCheckpoint::default();
            primary
                .unreachable
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let r = reconciler(&primary, &dr, &ledger, true, 2);
            let error = r.run(&store, |_| true, |_, _| {}, || 1).await.unwrap_err();
            assert!(
                matches!(error, ReconcileError::SourceUnreachable(_)),
                "{error}"
            );
            assert_eq!(store.load().await.unwrap(), None);
        });
    }

    #[test]
    fn a_policy_document_edited_in_the_target_is_put_back() {
        block_on(async {
            let (primary, dr, pems) = fleet(1).await;
            let ledger = FakeLedger::default();
            let policy = crate::replication::message::PolicyRecord {
                policy_name: "fleet".parse().unwrap(),
                document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#.to_owned(),
            };
            primary.put_policy(&policy).await.unwrap();
            primary
                .attach_policy(&policy.policy_name, pems[0].id())
                .await
                .unwrap();
            reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(|| 1_000)
                .await
                .unwrap();
            let edited = crate::replication::message::PolicyRecord {
                document: r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned(),
                ..policy.clone()
            };
            dr.put_policy(&edited).await.unwrap();

            let repair = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
                .run_to_end(|| 2_000)
                .await
                .unwrap();
            assert_eq!(repair.counts.mismatched, 1);
            assert_eq!(repair.repaired, 1, "{:?}", repair.failed);
            let after = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
                .run_to_end(|| 3_000)
                .await
                .unwrap();
            assert_eq!(after.counts.mismatched, 0, "{:?}", after.first);
        });
    }
}
