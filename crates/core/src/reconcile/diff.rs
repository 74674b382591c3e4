//! The streaming diff of two certificate inventories sorted by id, and its tally.
//!
//! Both inventories arrive sorted by certificate id, so one merge-join pass finds every
//! difference in linear time, holding one entry per side in memory: fit for a million
//! certificates per side. A reconcile pass ([`Reconciler`](super::Reconciler)) feeds it
//! one listing page at a time and checkpoints between pages, so no invocation needs the
//! whole fleet. Each [`Drift`] carries what repairing it needs from the source side, so
//! the repair goes through the replicator's apply path.
//!
//! Rules the diff encodes:
//! * the target's expected status is the source's, mapped as replication maps it
//!   ([`CertificateStatus::in_dr`]);
//! * a certificate REVOKED in the target but not in the source is a conflict to report,
//!   never a repair: revoked wins;
//! * a certificate only in the target is reported as extra, never deleted automatically
//!   (it may be a registration made during an outage).

use std::cmp::Ordering;
use std::iter::Peekable;

use sha2::{Digest, Sha256};

use crate::certificate::{CertificateId, CertificateStatus};
use crate::ids::{AccountId, PolicyName, Region, ThingName};
use crate::replication::records::ThingAssociation;
use crate::replication::ArnRewrite;

/// SHA-256 of a policy document with its own account and region taken out of its ARNs, so
/// the same policy in primary and in DR digests the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyDigest([u8; 32]);

impl PolicyDigest {
    /// Digest `document`, a policy of `account` in `region`. A document that is not JSON
    /// digests as its text (it can only match itself).
    pub fn of(document: &str, account: &AccountId, region: &Region) -> Self {
        let neutral = ArnRewrite::new(
            account.clone(),
            region.clone(),
            "000000000000".parse().expect("a valid placeholder account"),
            "xx-neutral-1".parse().expect("a valid placeholder region"),
        );
        let canonical = neutral
            .rewrite_document(document)
            .unwrap_or_else(|_| document.to_owned());
        Self(Sha256::digest(canonical.as_bytes()).into())
    }
}

/// One certificate as a registry has it, reduced to what replication keeps equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryEntry {
    /// The certificate.
    pub certificate_id: CertificateId,
    /// Its status.
    pub status: CertificateStatus,
    /// Things it is attached to with how (exclusively or not), sorted by name.
    pub things: Vec<(ThingName, ThingAssociation)>,
    /// Policies attached to it with their digests, sorted by name.
    pub policies: Vec<(PolicyName, PolicyDigest)>,
}

/// One difference between source and target, and how to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// In the source, not in the target: replicate it.
    Missing(InventoryEntry),
    /// In both, but different: bring the target to the source's state.
    Mismatch {
        /// The source's entry (what the target should hold).
        source: InventoryEntry,
        /// The target's status, when it differs from the expected one.
        status: Option<CertificateStatus>,
        /// Thing links differ.
        things: bool,
        /// Attached policies or their documents differ.
        policies: bool,
    },
    /// REVOKED in the target, not in the source: reported, never undone.
    RevokedConflict {
        /// The certificate.
        certificate_id: CertificateId,
        /// The source's status.
        source_status: CertificateStatus,
    },
    /// Only in the target: reported, never deleted automatically.
    Extra(CertificateId),
}

impl Drift {
    /// The certificate the drift is about.
    pub fn certificate_id(&self) -> &CertificateId {
        match self {
            Drift::Missing(entry) | Drift::Mismatch { source: entry, .. } => &entry.certificate_id,
            Drift::RevokedConflict { certificate_id, .. } | Drift::Extra(certificate_id) => {
                certificate_id
            }
        }
    }
}

/// The differences between two inventories sorted by certificate id, lazily.
///
/// # Panics
/// If either inventory is not strictly ascending: a merge-join over unsorted input would
/// report false drift, and a false "missing" costs a million needless writes.
pub fn diff<S, T>(source: S, target: T) -> Diff<S::IntoIter, T::IntoIter>
where
    S: IntoIterator<Item = InventoryEntry>,
    T: IntoIterator<Item = InventoryEntry>,
{
    Diff {
        source: source.into_iter().peekable(),
        target: target.into_iter().peekable(),
        last_source: None,
        last_target: None,
    }
}

/// The iterator [`diff`] returns.
#[derive(Debug)]
pub struct Diff<S: Iterator<Item = InventoryEntry>, T: Iterator<Item = InventoryEntry>> {
    source: Peekable<S>,
    target: Peekable<T>,
    last_source: Option<CertificateId>,
    last_target: Option<CertificateId>,
}

impl<S, T> Diff<S, T>
where
    S: Iterator<Item = InventoryEntry>,
    T: Iterator<Item = InventoryEntry>,
{
    fn next_source(&mut self) -> Option<InventoryEntry> {
        let entry = self.source.next()?;
        check_order(&mut self.last_source, &entry, "source");
        Some(entry)
    }

    fn next_target(&mut self) -> Option<InventoryEntry> {
        let entry = self.target.next()?;
        check_order(&mut self.last_target, &entry, "target");
        Some(entry)
    }
}

fn check_order(last: &mut Option<CertificateId>, entry: &InventoryEntry, side: &str) {
    if let Some(previous) = last {
        assert!(
            *previous < entry.certificate_id,
            "{side} inventory is not sorted by certificate id ({previous} before {})",
            entry.certificate_id
        );
    }
    *last = Some(entry.certificate_id.clone());
}

impl<S, T> Iterator for Diff<S, T>
where
    S: Iterator<Item = InventoryEntry>,
    T: Iterator<Item = InventoryEntry>,
{
    type Item = Drift;

    fn next(&mut self) -> Option<Drift> {
        loop {
            let order = match (self.source.peek(), self.target.peek()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(s), Some(t)) => s.certificate_id.cmp(&t.certificate_id),
            };
            match order {
                Ordering::Less => return self.next_source().map(Drift::Missing),
                Ordering::Greater => {
                    return self.next_target().map(|t| Drift::Extra(t.certificate_id));
                }
                Ordering::Equal => {
                    let source = self.next_source().expect("peeked");
                    let target = self.next_target().expect("peeked");
                    if let Some(drift) = compare(source, &target) {
                        return Some(drift);
                    }
                }
            }
        }
    }
}

fn compare(source: InventoryEntry, target: &InventoryEntry) -> Option<Drift> {
    if target.status == CertificateStatus::Revoked && source.status != CertificateStatus::Revoked {
        return Some(Drift::RevokedConflict {
            certificate_id: source.certificate_id,
            source_status: source.status,
        });
    }
    let expected = source.status.in_dr();
    let status = (target.status != expected).then_some(target.status);
    let things = source.things != target.things;
    let policies = source.policies != target.policies;
    (status.is_some() || things || policies).then_some(Drift::Mismatch {
        source,
        status,
        things,
        policies,
    })
}

crate::counts! {
    /// Counts of a diff, for reports and metrics (the names are the reconciler's metrics;
    /// the field names are what checkpoints stored, so they stay).
    pub struct DriftCounts {
        /// In source only.
        missing => "Missing",
        /// Different.
        mismatched => "Mismatched",
        /// Of the mismatched: a wrong status.
        status => "WrongStatus",
        /// Of the mismatched: thing links differ.
        thing_links => "ThingLinks",
        /// Of the mismatched: attached policies or their documents differ.
        policies => "Policies",
        /// Revoked in target only.
        conflicts => "Conflicts",
        /// In target only.
        extra => "Extra",
        /// Things of the certificates whose thing-group memberships differ; not
        /// certificate drift, so in none of the counts above.
        memberships => "Memberships",
        /// Shadows (classic or named) of the certificates' things whose state differs; not
        /// certificate drift either.
        shadows => "Shadows",
    }
}

impl DriftCounts {
    /// Count one drift (a mismatch once, and once under each way it differs).
    pub fn add(&mut self, drift: &Drift) {
        match drift {
            Drift::Missing(_) => self.missing += 1,
            Drift::Mismatch {
                status,
                things,
                policies,
                ..
            } => {
                self.mismatched += 1;
                self.status += u64::from(status.is_some());
                self.thing_links += u64::from(*things);
                self.policies += u64::from(*policies);
            }
            Drift::RevokedConflict { .. } => self.conflicts += 1,
            Drift::Extra(_) => self.extra += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn id(n: u32) -> CertificateId {
        format!("{n:064x}").parse().unwrap()
    }

    fn entry(n: u32, status: CertificateStatus) -> InventoryEntry {
        InventoryEntry {
            certificate_id: id(n),
            status,
            things: vec![(
                format!("thing-{n}").parse().unwrap(),
                ThingAssociation::NonExclusive,
            )],
            policies: vec![("fleet".parse().unwrap(), digest("{}"))],
        }
    }

    fn digest(document: &str) -> PolicyDigest {
        PolicyDigest::of(
            document,
            &"111111111111".parse().unwrap(),
            &"us-east-1".parse().unwrap(),
        )
    }

    use CertificateStatus::{Active, Inactive, PendingActivation, Revoked};

    #[test]
    fn a_thing_attached_the_other_way_is_a_thing_mismatch() {
        let source = entry(1, Active);
        let mut retyped = entry(1, Active);
        retyped.things[0].1 = ThingAssociation::Exclusive;

        let drifts: Vec<Drift> = diff(vec![source.clone()], vec![retyped]).collect();

        assert_eq!(
            drifts,
            vec![Drift::Mismatch {
                source,
                status: None,
                things: true,
                policies: false,
            }]
        );
    }

    #[test]
    fn each_kind_of_drift_is_found_once() {
        let source = vec![
            entry(1, Active),
            entry(2, Active),
            entry(3, Active),
            entry(4, Active),
            entry(5, Active),
        ];
        let mut unlinked = entry(3, Active);
        unlinked.things.clear();
        let mut other_policy = entry(4, Active);
        other_policy.policies[0].1 = digest(r#"{"Statement":[]}"#);
        let target = vec![
            entry(2, Inactive),
            unlinked,
            other_policy,
            entry(5, Revoked),
            entry(6, Active),
        ];

        let drifts: Vec<Drift> = diff(source, target).collect();
        assert_eq!(drifts.len(), 6, "{drifts:#?}");
        assert!(matches!(&drifts[0], Drift::Missing(e) if e.certificate_id == id(1)));
        assert!(matches!(
            &drifts[1],
            Drift::Mismatch {
                status: Some(Inactive),
                things: false,
                policies: false,
                ..
            }
        ));
        assert!(matches!(
            &drifts[2],
            Drift::Mismatch {
                status: None,
                things: true,
                policies: false,
                ..
            }
        ));
        assert!(matches!(
            &drifts[3],
            Drift::Mismatch {
                status: None,
                things: false,
                policies: true,
                ..
            }
        ));
        assert!(matches!(
            &drifts[4],
            Drift::RevokedConflict {
                source_status: Active,
                ..
            }
        ));
        assert_eq!(drifts[5], Drift::Extra(id(6)));
    }

    #[test]
    fn statuses_compare_as_replication_maps_them() {
        let source = vec![entry(1, PendingActivation)];
        let target = vec![entry(1, Inactive)];
        assert_eq!(diff(source, target).count(), 0);
    }

    #[test]
    fn the_same_policy_in_both_accounts_digests_the_same() {
        let primary = r#"{"Resource":"arn:aws:iot:us-east-1:111111111111:client/x"}"#;
        let dr = r#"{"Resource":"arn:aws:iot:us-west-2:222222222222:client/x"}"#;
        let in_primary = PolicyDigest::of(
            primary,
            &"111111111111".parse().unwrap(),
            &"us-east-1".parse().unwrap(),
        );
        let in_dr = PolicyDigest::of(
            dr,
            &"222222222222".parse().unwrap(),
            &"us-west-2".parse().unwrap(),
        );
        assert_eq!(in_primary, in_dr);
        let widened = PolicyDigest::of(
            &dr.replace("client/x", "client/*"),
            &"222222222222".parse().unwrap(),
            &"us-west-2".parse().unwrap(),
        );
        assert_ne!(in_primary, widened);
    }

    #[test]
    #[should_panic(expected = "not sorted")]
    fn unsorted_input_is_refused() {
        let _ = diff(vec![entry(2, Active), entry(1, Active)], Vec::new()).count();
    }

    /// Repair the target the way the reconciler does: missing and mismatched entries take
    /// the source's state (status mapped), conflicts and extras stay as they are.
    fn repair(target: &mut BTreeMap<CertificateId, InventoryEntry>, drift: Drift) {
        match drift {
            Drift::Missing(source) | Drift::Mismatch { source, .. } => {
                let mut repaired = source;
                repaired.status = repaired.status.in_dr();
                target.insert(repaired.certificate_id.clone(), repaired);
            }
            Drift::RevokedConflict { .. } | Drift::Extra(_) => {}
        }
    }

    /// A certificate: its number, status, how many things, which policy document, and
    /// whether a lone thing is attached exclusively.
    fn arbitrary_entry() -> impl Strategy<Value = (u32, CertificateStatus, u8, u8, bool)> {
        (
            0u32..400,
            prop_oneof![
                Just(Active),
                Just(Inactive),
                Just(Revoked),
                Just(PendingActivation)
            ],
            0u8..3,
            0u8..3,
            any::<bool>(),
        )
    }

    fn inventory(
        raw: Vec<(u32, CertificateStatus, u8, u8, bool)>,
    ) -> BTreeMap<CertificateId, InventoryEntry> {
        raw.into_iter()
            .map(|(n, status, things, policy, exclusive)| {
                // AWS allows an exclusive thing only as the certificate's only thing.
                let association = |_| match exclusive && things == 1 {
                    true => ThingAssociation::Exclusive,
                    false => ThingAssociation::NonExclusive,
                };
                let entry = InventoryEntry {
                    certificate_id: id(n),
                    status,
                    things: (0..things)
                        .map(|t| (format!("thing-{n}-{t}").parse().unwrap(), association(t)))
                        .collect(),
                    policies: vec![(
                        "fleet".parse().unwrap(),
                        digest(&format!(r#"{{"v":{policy}}}"#)),
                    )],
                };
                (entry.certificate_id.clone(), entry)
            })
            .collect()
    }

    proptest! {
        /// Applying diff(A, B) to B yields A on every replicated field — except where B
        /// holds a revocation A lacks (revoked wins) — and keeps B's extras.
        #[test]
        fn repairing_the_diff_makes_the_target_equal_the_source(
            a in prop::collection::vec(arbitrary_entry(), 0..200),
            b in prop::collection::vec(arbitrary_entry(), 0..200),
        ) {
            let (source, mut target) = (inventory(a), inventory(b));
            let before = target.clone();
            let drifts: Vec<Drift> = diff(source.values().cloned(), target.values().cloned()).collect();
            for drift in drifts {
                repair(&mut target, drift);
            }
            for (id, wanted) in &source {
                let got = &target[id];
                let revoked_in_target = before.get(id).is_some_and(|b| b.status == Revoked) && wanted.status != Revoked;
                if revoked_in_target {
                    prop_assert_eq!(got.status, Revoked);
                } else {
                    prop_assert_eq!(got.status, wanted.status.in_dr());
                    prop_assert_eq!(&got.things, &wanted.things);
                    prop_assert_eq!(&got.policies, &wanted.policies);
                }
            }
            for id in before.keys().filter(|id| !source.contains_key(*id)) {
                prop_assert!(target.contains_key(id), "an extra was deleted");
            }
            // And the repaired target has no drift left but conflicts and extras.
            let left = diff(source.values().cloned(), target.values().cloned())
                .filter(|d| matches!(d, Drift::Missing(_) | Drift::Mismatch { .. }))
                .count();
            prop_assert_eq!(left, 0);
        }
    }
}
