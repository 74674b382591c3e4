//! The status tier of anti-entropy: every certificate's id and status on both sides, from
//! the two listings alone.
//!
//! A deep pass reads each certificate's things and policies (about three calls per
//! certificate per side): days for a million-device fleet. ListCertificates already gives
//! id and status, 250 to a page, so comparing the listings costs ≈ 4,000 calls per side
//! for 1M certificates, and the two sides (two accounts, two quotas) are walked at once.
//! That is the tier that finds what matters most — a certificate DR lacks, a revocation or
//! deactivation DR missed — within minutes; the deep pass keeps walking behind it.
//!
//! **The join.** The listings are not sorted by id, so a merge-join cannot pair them. Both
//! are walked in creation order, a page of each at a time, and a certificate seen on one
//! side waits in that side's *unmatched* set until the other side lists it. DR registers a
//! certificate shortly after primary did, so the two orders nearly agree and the sets stay
//! small: memory follows how far the orders disagree, not the fleet's size. Once one
//! listing has ended, whatever waits for it is settled at once (missing or extra), so a
//! first pass against an empty DR holds nothing either. Ids are kept as 32 bytes.
//!
//! **Repairs, revocations first.** A drift where DR admits a certificate the source does
//! not (revoked or deactivated in the source, ACTIVE in DR) is repaired the moment it is
//! found; every other repair waits until the walk ends and then runs in order (wrong
//! statuses, then missing certificates), up to [`DEFERRED_REPAIRS`] per pass — the rest
//! are counted and found again by the next pass, so memory stays bounded on a first
//! deploy too. Repairs go through the replicator's capture-and-apply path, which reads the
//! source afresh: a certificate changed since it was listed is repaired to its new state.
//!
//! Long because of its unit tests (~370 lines of code): the merge walk of the two listings
//! and its ordering cases are read together.

use std::collections::HashMap;
use std::future::Future;

use futures_util::future::join;
use serde::{Deserialize, Serialize};

use super::ports::{CertificateLister, ListOrder, ReconcileError, REPORTED_DRIFTS};
use crate::certificate::{CertificateId, CertificateStatus};
use crate::port::PortError;
use crate::time::EpochMillis;

/// Repairs a pass keeps for after its walk; more are left to the next pass.
pub const DEFERRED_REPAIRS: usize = 50_000;

/// A difference the listings show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatusDrift {
    /// In the source, not in the target.
    Missing {
        /// The certificate.
        certificate_id: CertificateId,
        /// Its status in the source.
        source: CertificateStatus,
    },
    /// In both, with a status the target should not have.
    Status {
        /// The certificate.
        certificate_id: CertificateId,
        /// Its status in the source.
        source: CertificateStatus,
        /// Its status in the target.
        target: CertificateStatus,
    },
    /// REVOKED in the target only: reported, never undone (revoked wins).
    RevokedConflict {
        /// The certificate.
        certificate_id: CertificateId,
        /// Its status in the source.
        source: CertificateStatus,
    },
    /// In the target only: reported, never deleted (it may be an outage registration).
    Extra {
        /// The certificate.
        certificate_id: CertificateId,
        /// Its status in the target.
        target: CertificateStatus,
    },
}

impl StatusDrift {
    /// The certificate it is about.
    pub fn certificate_id(&self) -> &CertificateId {
        match self {
            Self::Missing { certificate_id, .. }
            | Self::Status { certificate_id, .. }
            | Self::RevokedConflict { certificate_id, .. }
            | Self::Extra { certificate_id, .. } => certificate_id,
        }
    }

    /// Whether repairing it brings the target in line (conflicts and extras are reported).
    pub fn repairable(&self) -> bool {
        matches!(self, Self::Missing { .. } | Self::Status { .. })
    }

    /// The target admits a device the source refuses: repaired before anything else.
    pub fn urgent(&self) -> bool {
        matches!(self, Self::Status { source, target: CertificateStatus::Active, .. }
            if source.in_dr() != CertificateStatus::Active)
    }

    /// The drift between a certificate both sides list, if any.
    fn between(
        certificate_id: CertificateId,
        source: CertificateStatus,
        target: CertificateStatus,
    ) -> Option<Self> {
        if target == CertificateStatus::Revoked && source != CertificateStatus::Revoked {
            Some(Self::RevokedConflict {
                certificate_id,
                source,
            })
        } else if target != source.in_dr() {
            Some(Self::Status {
                certificate_id,
                source,
                target,
            })
        } else {
            None
        }
    }
}

crate::counts! {
    /// Drift by kind (the names are the status tier's metrics, dimension `Tier=status`).
    pub struct StatusDriftCounts {
        /// In the source only.
        missing => "Missing",
        /// A status the target should not have.
        status => "WrongStatus",
        /// Revoked in the target only.
        conflicts => "Conflicts",
        /// In the target only.
        extra => "Extra",
    }
}

impl StatusDriftCounts {
    fn add(&mut self, drift: &StatusDrift) {
        match drift {
            StatusDrift::Missing { .. } => self.missing += 1,
            StatusDrift::Status { .. } => self.status += 1,
            StatusDrift::RevokedConflict { .. } => self.conflicts += 1,
            StatusDrift::Extra { .. } => self.extra += 1,
        }
    }

    /// All of it.
    pub fn total(&self) -> u64 {
        self.missing + self.status + self.conflicts + self.extra
    }
}

/// What a status pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPassReport {
    /// When the walk began.
    pub started_ms: EpochMillis,
    /// When the pass ended; `None` when it was cut short (its findings are partial).
    pub completed_ms: Option<EpochMillis>,
    /// Certificates the source listed.
    pub source_certificates: u64,
    /// Certificates the target listed.
    pub target_certificates: u64,
    /// ListCertificates calls to the source.
    pub source_calls: u64,
    /// ListCertificates calls to the target.
    pub target_calls: u64,
    /// Drift by kind.
    pub counts: StatusDriftCounts,
    /// The first drifts, for a person to read.
    pub first: Vec<StatusDrift>,
    /// Repairs applied.
    pub repaired: u64,
    /// Repairs that failed, with why (the next pass finds them again).
    pub failed: Vec<(CertificateId, String)>,
    /// Repairs left for the next pass (over [`DEFERRED_REPAIRS`], or out of time).
    pub left_for_next_pass: u64,
    /// The most certificates waiting for the other side's listing at once: the pass's
    /// memory, in entries of 33 bytes.
    pub peak_unmatched: usize,
}

/// How a status pass repairs one certificate.
pub trait StatusRepair {
    /// Whether it repairs at all (`false`: a dry run, which reports drift only).
    fn applies(&self) -> bool {
        true
    }

    /// Bring the target's `drift.certificate_id()` in line with the source.
    fn repair(&self, drift: &StatusDrift) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// A repairer that repairs nothing: a dry run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOnly;

impl StatusRepair for ReportOnly {
    fn applies(&self) -> bool {
        false
    }

    async fn repair(&self, _drift: &StatusDrift) -> Result<(), PortError> {
        Ok(())
    }
}

/// One side's listing, walked a page at a time.
#[derive(Debug, Default)]
struct Walk {
    marker: Option<String>,
    done: bool,
    calls: u64,
    listed: u64,
}

impl Walk {
    async fn next<L: CertificateLister + Sync>(
        &mut self,
        lister: &L,
        page_size: u32,
    ) -> Result<Vec<(CertificateId, CertificateStatus)>, PortError> {
        if self.done {
            return Ok(Vec::new());
        }
        let page = lister
            .certificate_page(self.marker.as_deref(), page_size, ListOrder::OldestFirst)
            .await?;
        self.calls += 1;
        self.listed += page.certificates.len() as u64;
        self.done = page.next_marker.is_none();
        self.marker = page.next_marker;
        Ok(page.certificates)
    }
}

/// A status pass from `source` to `target`.
#[derive(Debug)]
pub struct StatusPass<'a, S, T> {
    /// The source of truth.
    pub source: &'a S,
    /// The side brought in line.
    pub target: &'a T,
    /// Certificates per listing page (1..=250; 250 for the fewest calls).
    pub page_size: u32,
}

impl<S, T> StatusPass<'_, S, T>
where
    S: CertificateLister + Sync,
    T: CertificateLister + Sync,
{
    /// Walk both listings, report drift, repair through `repair` (revocations first), as
    /// long as `keep_going` says so — checked before every page and every repair.
    pub async fn run<R: StatusRepair + Sync>(
        &self,
        repair: &R,
        mut keep_going: impl FnMut() -> bool,
        now: impl Fn() -> EpochMillis,
    ) -> Result<StatusPassReport, ReconcileError> {
        let mut report = StatusPassReport {
            started_ms: now(),
            ..StatusPassReport::default()
        };
        let (mut source, mut target) = (Walk::default(), Walk::default());
        let mut unmatched_source: HashMap<[u8; 32], CertificateStatus> = HashMap::new();
        let mut unmatched_target: HashMap<[u8; 32], CertificateStatus> = HashMap::new();
        let mut deferred = Vec::new();
        let mut cut_short = false;
        while !(source.done && target.done) {
            if !keep_going() {
                cut_short = true;
                break;
            }
            let (source_page, target_page) = join(
                source.next(self.source, self.page_size),
                target.next(self.target, self.page_size),
            )
            .await;
            let source_page = source_page.map_err(ReconcileError::SourceUnreachable)?;
            let target_page = target_page.map_err(ReconcileError::TargetUnreachable)?;
            let mut found = Vec::new();
            for (id, status) in source_page {
                let key = id.to_bytes();
                match unmatched_target.remove(&key) {
                    Some(in_target) => found.extend(StatusDrift::between(id, status, in_target)),
                    None => {
                        unmatched_source.insert(key, status);
                    }
                }
            }
            for (id, status) in target_page {
                let key = id.to_bytes();
                match unmatched_source.remove(&key) {
                    Some(in_source) => found.extend(StatusDrift::between(id, in_source, status)),
                    None => {
                        unmatched_target.insert(key, status);
                    }
                }
            }
            report.peak_unmatched = report
                .peak_unmatched
                .max(unmatched_source.len() + unmatched_target.len());
            // A listing that has ended settles everything still waiting for it.
            if target.done {
                found.extend(
                    unmatched_source
                        .drain()
                        .map(|(key, source)| StatusDrift::Missing {
                            certificate_id: CertificateId::from_bytes(&key),
                            source,
                        }),
                );
            }
            if source.done {
                found.extend(
                    unmatched_target
                        .drain()
                        .map(|(key, target)| StatusDrift::Extra {
                            certificate_id: CertificateId::from_bytes(&key),
                            target,
                        }),
                );
            }
            for drift in found {
                record(&mut report, &drift);
                if !(drift.repairable() && repair.applies()) {
                    continue;
                }
                if drift.urgent() && keep_going() {
                    attempt(&mut report, repair, &drift).await;
                } else if drift.urgent() || deferred.len() >= DEFERRED_REPAIRS {
                    report.left_for_next_pass += 1;
                } else {
                    deferred.push(drift);
                }
            }
        }
        (report.source_calls, report.target_calls) = (source.calls, target.calls);
        (report.source_certificates, report.target_certificates) = (source.listed, target.listed);
        // Wrong statuses before missing certificates; each kind in listing order.
        deferred.sort_by_key(|d| !matches!(d, StatusDrift::Status { .. }));
        let mut deferred = deferred.into_iter();
        for drift in deferred.by_ref() {
            if !keep_going() {
                report.left_for_next_pass += 1;
                cut_short = true;
                break;
            }
            attempt(&mut report, repair, &drift).await;
        }
        report.left_for_next_pass += deferred.len() as u64;
        report.completed_ms = (!cut_short).then(&now);
        Ok(report)
    }
}

fn record(report: &mut StatusPassReport, drift: &StatusDrift) {
    report.counts.add(drift);
    if report.first.len() < REPORTED_DRIFTS {
        report.first.push(drift.clone());
    }
}

async fn attempt<R: StatusRepair>(report: &mut StatusPassReport, repair: &R, drift: &StatusDrift) {
    match repair.repair(drift).await {
        Ok(()) => report.repaired += 1,
        Err(error) => report
            .failed
            .push((drift.certificate_id().clone(), error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    use proptest::prelude::*;

    use super::*;
    use crate::certificate::CertificatePem;
    use crate::reconcile::{CertificatePage, Reconciler};
    use crate::replication::fake::{rewrite, source_ref, FakeLedger, FakeRegistry};
    use crate::replication::ports::CertificateRegistry;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// A listing in a given order (AWS lists by creation date, not by id).
    #[derive(Debug, Default)]
    struct Listing(Vec<(CertificateId, CertificateStatus)>);

    impl CertificateLister for Listing {
        async fn certificate_page(
            &self,
            marker: Option<&str>,
            page_size: u32,
            _order: ListOrder,
        ) -> Result<CertificatePage, PortError> {
            let start: usize = marker.map_or(0, |m| m.parse().unwrap());
            let end = (start + page_size as usize).min(self.0.len());
            Ok(CertificatePage {
                certificates: self.0[start..end].to_vec(),
                next_marker: (end < self.0.len()).then(|| end.to_string()),
            })
        }
    }

    /// Records what it was asked to repair, in order.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<StatusDrift>>);

    impl StatusRepair for Recorder {
        async fn repair(&self, drift: &StatusDrift) -> Result<(), PortError> {
            self.0.lock().unwrap().push(drift.clone());
            Ok(())
        }
    }

    fn status() -> impl Strategy<Value = CertificateStatus> {
        prop_oneof![
            4 => Just(CertificateStatus::Active),
            1 => Just(CertificateStatus::Inactive),
            1 => Just(CertificateStatus::Revoked),
            1 => Just(CertificateStatus::PendingActivation),
        ]
    }

    /// What each certificate's drift must be, from the two sides as sets.
    fn oracle(
        source: &BTreeMap<CertificateId, CertificateStatus>,
        target: &BTreeMap<CertificateId, CertificateStatus>,
    ) -> BTreeMap<CertificateId, StatusDrift> {
        let ids: BTreeSet<_> = source.keys().chain(target.keys()).cloned().collect();
        ids.into_iter()
            .filter_map(|id| {
                let drift = match (source.get(&id), target.get(&id)) {
                    (Some(&s), None) => Some(StatusDrift::Missing {
                        certificate_id: id.clone(),
                        source: s,
                    }),
                    (None, Some(&t)) => Some(StatusDrift::Extra {
                        certificate_id: id.clone(),
                        target: t,
                    }),
                    (Some(&s), Some(&t)) => StatusDrift::between(id.clone(), s, t),
                    (None, None) => unreachable!(),
                };
                drift.map(|d| (id, d))
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the listing orders and page sizes, every certificate's drift is found
        /// exactly once, urgent repairs run before all others, statuses before missing.
        #[test]
        fn finds_every_drift_once_in_any_listing_order(
            fleet in proptest::collection::vec((any::<[u8; 32]>(), status(), status(), 0u8..4), 0..120),
            source_order in any::<u64>(),
            target_order in any::<u64>(),
            page_size in 1u32..12,
        ) {
            let mut source = BTreeMap::new();
            let mut target = BTreeMap::new();
            for (bytes, s, t, presence) in fleet {
                let id = CertificateId::from_bytes(&bytes);
                // 0: both sides agree, 1: both (statuses as drawn), 2: source only, 3: target only.
                match presence {
                    0 => { source.insert(id.clone(), s); target.insert(id, s.in_dr()); }
                    1 => { source.insert(id.clone(), s); target.insert(id, t); }
                    2 => { source.insert(id, s); }
                    _ => { target.insert(id, t); }
                }
            }
            let shuffled = |side: &BTreeMap<CertificateId, CertificateStatus>, seed: u64| {
                let mut listed: Vec<_> = side.iter().map(|(i, s)| (i.clone(), *s)).collect();
                listed.sort_by_key(|(id, _)| {
                    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
                    for b in id.to_bytes() { h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3); }
                    h
                });
                Listing(listed)
            };
            let (source_listing, target_listing) = (shuffled(&source, source_order), shuffled(&target, target_order));
            let recorder = Recorder::default();
            let report = block_on(StatusPass { source: &source_listing, target: &target_listing, page_size }
                .run(&recorder, || true, || 7)).unwrap();

            let expected = oracle(&source, &target);
            let mut counts = StatusDriftCounts::default();
            expected.values().for_each(|d| counts.add(d));
            prop_assert_eq!(report.counts, counts);
            prop_assert_eq!(report.completed_ms, Some(7));
            prop_assert_eq!(report.source_certificates, source.len() as u64);
            prop_assert_eq!(report.target_certificates, target.len() as u64);
            prop_assert_eq!(report.source_calls, (source.len() as u64).div_ceil(u64::from(page_size)).max(1));
            let repaired = recorder.0.into_inner().unwrap();
            let mut once = BTreeSet::new();
            for drift in &repaired {
                prop_assert!(once.insert(drift.certificate_id().clone()), "repaired twice: {:?}", drift);
                prop_assert_eq!(Some(drift), expected.get(drift.certificate_id()));
            }
            prop_assert_eq!(repaired.len(), expected.values().filter(|d| d.repairable()).count());
            let rank = |d: &StatusDrift| match d { d if d.urgent() => 0, StatusDrift::Status { .. } => 1, _ => 2 };
            prop_assert!(repaired.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])), "{:?}", repaired);
        }
    }

    /// `n` ACTIVE certificates with distinct ids, in one order.
    fn active(n: u32) -> Vec<(CertificateId, CertificateStatus)> {
        (0..n)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..4].copy_from_slice(&i.to_be_bytes());
                (CertificateId::from_bytes(&b), CertificateStatus::Active)
            })
            .collect()
    }

    #[test]
    fn costs_one_listing_call_per_page_per_side_and_holds_nothing_when_the_orders_agree() {
        let ids = active(10_000);
        let (source, target) = (Listing(ids.clone()), Listing(ids));
        let report = block_on(
            StatusPass {
                source: &source,
                target: &target,
                page_size: 250,
            }
            .run(&ReportOnly, || true, || 0),
        )
        .unwrap();
        assert_eq!((report.source_calls, report.target_calls), (40, 40));
        assert_eq!(report.counts.total(), 0);
        assert_eq!(report.peak_unmatched, 0);
    }

    #[test]
    fn against_an_empty_target_everything_is_missing_and_nothing_waits() {
        let ids = active(1_000);
        let (source, target) = (Listing(ids), Listing::default());
        let report = block_on(
            StatusPass {
                source: &source,
                target: &target,
                page_size: 250,
            }
            .run(&ReportOnly, || true, || 0),
        )
        .unwrap();
        assert_eq!(report.counts.missing, 1_000);
        assert!(report.peak_unmatched <= 250, "{}", report.peak_unmatched);
        assert_eq!(report.repaired, 0, "a dry run repairs nothing");
    }

    #[test]
    fn a_pass_cut_short_says_so_and_leaves_its_repairs_to_the_next() {
        block_on(async {
            let (primary, dr) = (FakeRegistry::default(), FakeRegistry::default());
            for _ in 0..3 {
                let pem =
                    CertificatePem::parse(&crate::certificate::tests::generated_pem()).unwrap();
                primary
                    .register_certificate(&pem, None, CertificateStatus::Active)
                    .await
                    .unwrap();
            }
            let mut budget = 2; // the page, and one repair of three
            let report = StatusPass {
                source: &primary,
                target: &dr,
                page_size: 250,
            }
            .run(
                &Recorder::default(),
                || {
                    budget -= 1;
                    budget >= 0
                },
                || 0,
            )
            .await
            .unwrap();
            assert_eq!(report.completed_ms, None);
            let left = (
                report.counts.missing,
                report.repaired,
                report.left_for_next_pass,
            );
            assert_eq!(left, (3, 1, 2));
        });
    }

    /// Through the replicator's path: a revocation DR missed is repaired, a missing
    /// certificate registered, a conflict and an extra only reported; the next pass is
    /// clean but for those two.
    #[test]
    fn repairs_revocations_and_missing_certificates_through_capture_and_apply() {
        block_on(async {
            let (primary, dr) = (FakeRegistry::default(), FakeRegistry::default());
            let pem =
                || CertificatePem::parse(&crate::certificate::tests::generated_pem()).unwrap();
            let (revoked, missing, conflict, extra) = (pem(), pem(), pem(), pem());
            for (p, status) in [
                (&revoked, CertificateStatus::Revoked),
                (&missing, CertificateStatus::Active),
                (&conflict, CertificateStatus::Active),
            ] {
                primary.register_certificate(p, None, status).await.unwrap();
            }
            for (p, status) in [
                (&revoked, CertificateStatus::Active),
                (&conflict, CertificateStatus::Revoked),
                (&extra, CertificateStatus::Active),
            ] {
                dr.register_certificate(p, None, status).await.unwrap();
            }
            let ledger = FakeLedger::default();
            let reconciler = Reconciler {
                source: &primary,
                target: &dr,
                ledger: &ledger,
                source_ref: source_ref(),
                rewrite: rewrite(),
                apply_repairs: true,
                page_size: 250,
            };
            let first = reconciler.status_pass(|| true, &|| 1_000).await.unwrap();
            let c = first.counts;
            assert_eq!((c.missing, c.status, c.conflicts, c.extra), (1, 1, 1, 1));
            assert_eq!(
                (first.repaired, first.failed.len()),
                (2, 0),
                "{:?}",
                first.failed
            );
            let world = dr.snapshot();
            assert_eq!(
                world.certificates[revoked.id()].1,
                CertificateStatus::Revoked
            );
            assert_eq!(
                world.certificates[missing.id()].1,
                CertificateStatus::Active
            );
            assert_eq!(
                world.certificates[conflict.id()].1,
                CertificateStatus::Revoked,
                "revoked wins"
            );

            let second = reconciler.status_pass(|| true, &|| 2_000).await.unwrap();
            let c = second.counts;
            assert_eq!((c.missing, c.status, c.conflicts, c.extra), (0, 0, 1, 1));
            assert_eq!(second.repaired, 0);
        });
    }
}
