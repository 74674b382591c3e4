//! Where a pass stands between invocations: the phase and marker of its walk, its totals
//! so far, each tier's last completed pass (their freshness), and the fenced store that
//! keeps it.

use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::diff::DriftCounts;
use super::status_pass::StatusDriftCounts;
use crate::port::PortError;
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
