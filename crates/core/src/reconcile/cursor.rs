//! Where a pass stands between invocations: the phase and marker of its walk, its totals
//! so far, and each tier's last completed pass (their freshness).

use serde::{Deserialize, Serialize};

use super::diff::DriftCounts;
use super::ports::{CheckpointStore, ReconcileError};
use super::status_pass::{StatusDriftCounts, StatusPassReport};
use crate::time::EpochMillis;

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
    /// These totals with one run's figures added: `pages` read, `checked` certificates,
    /// `drift` found, repairs applied and failed.
    pub(crate) fn plus(
        self,
        pages: u64,
        checked: u64,
        drift: DriftCounts,
        repaired: u64,
        failed: u64,
    ) -> Self {
        Self {
            pages: self.pages + pages,
            checked: self.checked + checked,
            drift: self.drift.plus(drift),
            repaired: self.repaired + repaired,
            failed: self.failed + failed,
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
