//! One reconcile pass: list both registries, diff, and (unless it is a dry run) repair each
//! drift through the replicator's own path — capture the source's state as a message,
//! apply it to the target — so the same rules hold: idempotent, ledger-guarded, revoked wins.

use std::future::Future;

use super::{diff, Drift, DriftCounts, InventoryEntry};
use crate::certificate::CertificateId;
use crate::replication::apply::apply;
use crate::replication::capture::{capture, CaptureEvent, Trigger};
use crate::replication::message::SourceRef;
use crate::replication::ports::{
    ApplyLedger, CertificateRegistry, LedgerEntry, PortError, Recorded,
};
use crate::replication::ArnRewrite;
use crate::time::EpochMillis;

/// A registry that can list itself as an inventory sorted by certificate id.
pub trait InventorySource {
    /// Every certificate with its status, things and policy digests, sorted by id.
    fn inventory(&self) -> impl Future<Output = Result<Vec<InventoryEntry>, PortError>> + Send;
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

/// What a pass found and did.
#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    /// Drift by kind.
    pub counts: DriftCounts,
    /// The first drifts found, for a person to read.
    pub first: Vec<Drift>,
    /// Repairs applied (0 in a dry run).
    pub repaired: u64,
    /// Repairs that failed, with why; the next pass retries them.
    pub failed: Vec<(CertificateId, String)>,
}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The source registry could not be listed — during an outage of primary, the signal
    /// operators need ("primary unreachable"), distinct from drift.
    #[error("cannot list the source registry: {0}")]
    SourceUnreachable(#[source] PortError),
    /// The target registry could not be listed.
    #[error("cannot list the target registry: {0}")]
    TargetUnreachable(#[source] PortError),
}

/// How many drifts a report keeps verbatim.
pub const REPORTED_DRIFTS: usize = 20;

/// Diff `source` against `target` and, when `apply` is set, repair missing and mismatched
/// certificates. Conflicts (revoked in the target only) and extras are only reported.
pub async fn reconcile<S, T, L>(
    source: &S,
    target: &T,
    ledger: &L,
    source_ref: &SourceRef,
    rewrite: &ArnRewrite,
    apply_repairs: bool,
    now: impl Fn() -> EpochMillis,
) -> Result<ReconcileReport, ReconcileError>
where
    S: CertificateRegistry + InventorySource + Sync,
    T: CertificateRegistry + InventorySource + Sync,
    L: ApplyLedger + Sync,
{
    let source_inventory = source
        .inventory()
        .await
        .map_err(ReconcileError::SourceUnreachable)?;
    let target_inventory = target
        .inventory()
        .await
        .map_err(ReconcileError::TargetUnreachable)?;
    let mut report = ReconcileReport::default();
    for drift in diff(source_inventory, target_inventory) {
        report.counts.add(&drift);
        let repairable = matches!(drift, Drift::Missing(_) | Drift::Mismatch { .. });
        let id = drift.certificate_id().clone();
        if report.first.len() < REPORTED_DRIFTS {
            report.first.push(drift);
        }
        if !(apply_repairs && repairable) {
            continue;
        }
        let event = CaptureEvent {
            cause: "reconcile".to_owned(),
            event_time_ms: now(),
            triggers: vec![Trigger::Certificate(id.clone())],
        };
        let outcome = async {
            for message in capture(&event, source, source_ref, &now).await? {
                apply(&message, rewrite, target, ledger)
                    .await
                    .map_err(|e| PortError::permanent("apply", e.to_string()))?;
            }
            Ok::<(), PortError>(())
        }
        .await;
        match outcome {
            Ok(()) => report.repaired += 1,
            Err(error) => report.failed.push((id, error.to_string())),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::{CertificatePem, CertificateStatus};
    use crate::replication::fake::{rewrite, source_ref, FakeLedger, FakeRegistry};

    fn pem() -> CertificatePem {
        CertificatePem::parse(&crate::certificate::tests::generated_pem()).unwrap()
    }

    #[test]
    fn a_dry_run_reports_and_an_apply_repairs_all_but_conflicts_and_extras() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let (primary, dr) = (FakeRegistry::default(), FakeRegistry::default());
                let (missing, stale, conflict, extra) = (pem(), pem(), pem(), pem());
                for p in [&missing, &stale, &conflict] {
                    primary
                        .register_certificate(p, None, CertificateStatus::Active)
                        .await
                        .unwrap();
                }
                dr.register_certificate(&stale, None, CertificateStatus::Inactive)
                    .await
                    .unwrap();
                dr.register_certificate(&conflict, None, CertificateStatus::Revoked)
                    .await
                    .unwrap();
                dr.register_certificate(&extra, None, CertificateStatus::Active)
                    .await
                    .unwrap();
                let ledger = FakeLedger::default();
                let now = || 1_000;

                let dry = reconcile(
                    &primary,
                    &dr,
                    &ledger,
                    &source_ref(),
                    &rewrite(),
                    false,
                    now,
                )
                .await
                .unwrap();
                assert_eq!(
                    (
                        dry.counts.missing,
                        dry.counts.mismatched,
                        dry.counts.conflicts,
                        dry.counts.extra
                    ),
                    (1, 1, 1, 1)
                );
                assert_eq!(dry.repaired, 0);
                assert!(
                    !dr.snapshot().certificates.contains_key(missing.id()),
                    "a dry run changes nothing"
                );

                let applied =
                    reconcile(&primary, &dr, &ledger, &source_ref(), &rewrite(), true, now)
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

                let after = reconcile(
                    &primary,
                    &dr,
                    &ledger,
                    &source_ref(),
                    &rewrite(),
                    false,
                    now,
                )
                .await
                .unwrap();
                assert_eq!((after.counts.missing, after.counts.mismatched), (0, 0));
            });
    }
}
