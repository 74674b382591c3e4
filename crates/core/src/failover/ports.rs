//! What flow D needs from the outside world, in the domain's words: the fenced state store,
//! the traffic switch, operators' channel, and the database recovery in DR.

use std::future::Future;

use super::runbook::{AuditEntry, FailoverRecord, Stored};
use crate::port::PortError;
use crate::time::EpochMillis;
use crate::Side;

/// Where the failover record lives (DynamoDB in DR, conditional writes).
pub trait StateStore {
    /// The record, if any.
    fn load(&self) -> impl Future<Output = Result<Option<Stored>, PortError>> + Send;
    /// Save as version `expected + 1` if the stored version is still `expected` (0: none).
    /// `Ok(false)`: someone else saved first. A save whose answer was lost and whose retry
    /// then failed its own condition is `Ok(true)`: it landed (the DynamoDB store tells by a
    /// nonce each save writes).
    fn save(
        &self,
        record: &FailoverRecord,
        expected: u64,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Write an audit entry (idempotent: keyed by the runbook's id).
    fn audit(&self, entry: &AuditEntry) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// What moves traffic: Route 53 failover records driven by a metric, or a direct UPSERT.
pub trait TrafficSwitch {
    /// Create or verify what the switch needs (records, health check, alarm).
    fn ensure(&self) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Send traffic to `side`, and return once the change is in effect.
    fn point_to(&self, side: Side) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Each round whose save won: keep the switch showing `side` (the data-plane switch
    /// republishes its metric so Route 53 never reads a silent stream; the DNS one does
    /// nothing). See [`FailoverRecord::switch_shows`].
    fn heartbeat(&self, side: Side) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Which side the switch sends traffic to now, if it can tell.
    fn serving(&self) -> impl Future<Output = Result<Option<Side>, PortError>> + Send;
}

/// Operators' channel (SNS).
pub trait Notifier {
    /// Publish one notification.
    fn notify(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The databases failover restores in DR, one set per runbook: each runbook restores into
/// databases named and tagged for it, and finds only those.
pub trait DatabaseRecovery {
    /// Start restoring every protected database for `runbook` (idempotent); one note per
    /// database: which database it restores into, from which source, with which data time.
    fn start(&self, runbook: &str) -> impl Future<Output = Vec<String>> + Send;
    /// Where `runbook`'s restores stand, converging them one step (an Aurora cluster gets
    /// its instances once available) and starting any not started yet. `started_ms`: when
    /// the runbook began, for the elapsed time and the bound.
    fn ready(
        &self,
        runbook: &str,
        started_ms: EpochMillis,
    ) -> impl Future<Output = Result<Readiness, PortError>> + Send;
}

/// Where a runbook's restored databases stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every database is available, or finished loudly (nothing to restore, a dead end):
    /// the note says which.
    Ready(String),
    /// RDS still works on some: what each is doing and how long the runbook has waited.
    Waiting {
        /// For `drctl status` and the notes.
        progress: String,
        /// The wait has passed `[failover] database_ready_timeout_seconds`.
        overdue: bool,
    },
}

/// What failback does with the databases a failover restored in DR (found by their
/// `dr:runbook` tag), each call one level-triggered look: safe to repeat, resumable by the
/// next `drctl failback`.
pub trait DatabaseFailback {
    /// The databases `failover_runbook` restored that still exist, one line each: name,
    /// account and region, status, source and data time (for the operator's choice and the
    /// audit). Empty: nothing to choose about.
    fn restored(
        &self,
        failover_runbook: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
    /// One step towards a final snapshot of each of them in primary's account and region,
    /// named for `failback_runbook` (taken only now, after the flip): `Ready` once every one
    /// is there, `Waiting` while RDS snapshots and copies. `started_ms`: when the failback
    /// began, for the time waited and the bound.
    fn carry_back(
        &self,
        failover_runbook: &str,
        failback_runbook: &str,
        started_ms: EpochMillis,
    ) -> impl Future<Output = Result<Readiness, PortError>> + Send;
    /// One step towards retiring them: deleted with a final snapshot kept; one under
    /// deletion protection is left as it is and said so loudly (`Ready` with that note).
    fn retire(
        &self,
        failover_runbook: &str,
        failback_runbook: &str,
        started_ms: EpochMillis,
    ) -> impl Future<Output = Result<Readiness, PortError>> + Send;
}
