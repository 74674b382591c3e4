//! The deep pass against in-memory registries.

use std::future::Future;

use super::*;
use crate::certificate::CertificatePem;
use crate::certificate::CertificateStatus;
use crate::reconcile::cursor::Checkpoint;
use crate::reconcile::cursor::PassTotals;
use crate::reconcile::ports::MAX_PAGE_SIZE;
use crate::replication::fake::{rewrite, source_ref, FakeLedger, FakeRegistry};
use crate::replication::ports::CertificateRegistry;
use crate::replication::records::ThingAssociation;
use crate::replication::shadow::same_state;

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
        .put_thing(&crate::replication::records::ThingRecord {
            thing_name: thing.clone(),
            thing_type: None,
            attributes: Default::default(),
            groups: None,
            association: Default::default(),
        })
        .await
        .unwrap();
    primary
        .attach_thing(&thing, pems[0].id(), ThingAssociation::NonExclusive)
        .await
        .unwrap();
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
fn group_memberships_the_replicator_missed_are_found_and_repaired_through_the_thing_s_message() {
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
fn shadows_of_the_certificates_things_are_compared_and_repaired_without_undoing_dr_s_newer_writes()
{
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

        // Primary writes another leaf, later by both clocks: DR takes it and still keeps its
        // own threshold (no clock decides; DR's value differs from what it last applied).
        primary.world.lock().unwrap().shadow_clock = 300;
        let write_primary = |state: serde_json::Value| {
            let primary = &primary;
            let thing = &thing;
            async move {
                primary
                    .update_shadow(thing, None, &desired(state))
                    .await
                    .unwrap()
            }
        };
        write_primary(serde_json::json!({"rate_hz": 20})).await;
        reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
            .run_to_end(now)
            .await
            .unwrap();
        let merged = dr.shadow(&thing, None).await.unwrap().unwrap();
        let merged = merged.state.desired.unwrap();
        assert_eq!(
            (merged["rate_hz"].clone(), merged["threshold"].clone()),
            (20.into(), 140.into())
        );

        // Failback's catch-up gives primary DR's value, and primary's shadow service
        // publishes that update as any other: its message is applied in DR (nothing to
        // write) and moves the base. Primary's next write then reaches DR.
        let before = primary.shadow(&thing, None).await.unwrap();
        write_primary(serde_json::json!({"threshold": 140})).await;
        let after = primary.shadow(&thing, None).await.unwrap().unwrap();
        let caught_up = ReplicationMessage {
            schema_version: SCHEMA_VERSION,
            source: source_ref(),
            cause: "shadow".to_owned(),
            event_time_ms: after.timestamp * 1000,
            observed_at_ms: after.timestamp * 1000,
            subject: Subject::Shadow(Box::new(ShadowUpdate {
                thing_name: thing.clone(),
                shadow_name: None,
                previous: before,
                current: after,
            })),
        };
        apply(&caught_up, &rewrite(), &dr, &ledger).await.unwrap();
        write_primary(serde_json::json!({"threshold": 150})).await;
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
        let policy = crate::replication::records::PolicyRecord {
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
        let edited = crate::replication::records::PolicyRecord {
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

/// Issue 28's inversion through the reconciler: DR applied primary's version 41 (120) minutes
/// after primary moved on to 110 (42, 43), and the messages since are still queued. DR's
/// write time is newer than primary's, and still its 120 is no write of DR's: the repair,
/// merging against the ledger's base, brings DR to 110.
#[test]
fn the_reconciler_brings_a_lagging_shadow_to_primary_s_state_by_the_ledger_s_base() {
    block_on(async {
        use crate::replication::ShadowStore;
        let (primary, dr, thing) = fleet_with_a_thing().await;
        let ledger = FakeLedger::default();
        let v41 = primary
            .shadow_write_message(&thing, None, serde_json::json!({"hr_high": 120}), 100)
            .await;
        for (desired, at) in [
            (serde_json::json!({"hr_high": 110}), 101),
            (serde_json::json!({"rate_hz": 2}), 102),
        ] {
            primary
                .shadow_write_message(&thing, None, desired, at)
                .await;
        }
        dr.world.lock().unwrap().shadow_clock = 200;
        apply(&v41, &rewrite(), &dr, &ledger).await.unwrap();

        let report = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
            .run_to_end(|| 1_000)
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let desired = dr
            .shadow(&thing, None)
            .await
            .unwrap()
            .unwrap()
            .state
            .desired;
        assert_eq!(
            desired,
            Some(serde_json::json!({"hr_high": 110, "rate_hz": 2}))
        );
    });
}

#[test]
fn a_dr_link_attached_again_non_exclusive_is_counted_and_repaired() {
    block_on(async {
        let (primary, dr, thing) = fleet_with_a_thing().await;
        let id = primary
            .snapshot()
            .certificates
            .keys()
            .next()
            .unwrap()
            .clone();
        primary.detach_thing(&thing, &id).await.unwrap();
        primary
            .attach_thing(&thing, &id, ThingAssociation::Exclusive)
            .await
            .unwrap();
        let ledger = FakeLedger::default();
        let clock = std::sync::atomic::AtomicI64::new(1_000);
        let now = || clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
            .run_to_end(now)
            .await
            .unwrap();
        assert_eq!(
            dr.certificate_thing_associations(&id).await.unwrap()[&thing],
            ThingAssociation::Exclusive
        );
        // Attached again the default way in DR, behind the replicator's back.
        dr.detach_thing(&thing, &id).await.unwrap();
        dr.attach_thing(&thing, &id, ThingAssociation::NonExclusive)
            .await
            .unwrap();

        let repaired = reconciler(&primary, &dr, &ledger, true, MAX_PAGE_SIZE)
            .run_to_end(now)
            .await
            .unwrap();

        assert_eq!(
            (repaired.counts.mismatched, repaired.counts.thing_links),
            (1, 1),
            "{:?}",
            repaired.counts
        );
        assert!(repaired.failed.is_empty(), "{:?}", repaired.failed);
        assert_eq!(
            dr.certificate_thing_associations(&id).await.unwrap()[&thing],
            ThingAssociation::Exclusive
        );
        let settled = reconciler(&primary, &dr, &ledger, false, MAX_PAGE_SIZE)
            .run_to_end(now)
            .await
            .unwrap();
        assert_eq!(settled.counts.mismatched, 0);
    });
}
