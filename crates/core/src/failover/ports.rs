//! What flow D needs from the outside world, in the domain's words: the fenced state store,
//! the traffic switch, operators' channel, and the database recovery in DR.

use std::future::Future;

use super::runbook::{AuditEntry, FailoverRecord, Stored};
use crate::port::PortError;
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

/// The databases failover restores in DR.
pub trait DatabaseRecovery {
    /// Start restoring every protected database (idempotent); one note per database.
    fn start(&self) -> impl Future<Output = Vec<String>> + Send;
    /// Whether all restored databases are available: `Ok(Some(note))` when they are,
    /// `Ok(None)` while RDS works. Starts any restore not started yet.
    fn ready(&self) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}
