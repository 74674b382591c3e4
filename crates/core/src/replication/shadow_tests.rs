//! Shadows end to end on in-memory shadow services whose clocks differ, as primary's and
//! DR's do: updates delivered late, duplicated and out of order, deletions replayed late,
//! and DR's own writes after a failover. DR's GET answers with its response time, as AWS's.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::fake::{rewrite, FakeLedger, FakeRegistry};
use super::*;
use crate::ids::ThingName;
use crate::replication::ports::ShadowStore;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn wearable() -> ThingName {
    "wearable-41".parse().unwrap()
}

/// DR's classic shadow's desired state (`Null` when there is no shadow).
async fn desired_in(dr: &FakeRegistry) -> Value {
    dr.shadow(&wearable(), None)
        .await
        .unwrap()
        .and_then(|d| d.state.desired)
        .unwrap_or(Value::Null)
}

async fn deliver(message: &ReplicationMessage, dr: &FakeRegistry, ledger: &FakeLedger, at: i64) {
    dr.world.lock().unwrap().shadow_clock = at;
    apply(message, &rewrite(), dr, ledger).await.unwrap();
}

/// Issue 28's worked example: a threshold corrected 120 → 110 (versions 41, 42), then
/// another leaf (43), delivered 41, 43, 42 with a lag of minutes. DR's timestamps (its write
/// times) are all newer than primary's, which once made DR keep 120.
#[test]
fn the_41_43_42_inversion_leaves_dr_at_110() {
    block_on(async {
        let primary = FakeRegistry::default();
        let thing = wearable();
        let v41 = primary
            .shadow_write_message(&thing, None, json!({"hr_high": 120}), 100)
            .await;
        let v42 = primary
            .shadow_write_message(&thing, None, json!({"hr_high": 110}), 101)
            .await;
        let v43 = primary
            .shadow_write_message(&thing, None, json!({"rate_hz": 2}), 102)
            .await;
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        for (message, dr_time) in [(&v41, 200), (&v43, 201), (&v42, 202), (&v43, 203)] {
            deliver(message, &dr, &ledger, dr_time).await;
        }
        assert_eq!(desired_in(&dr).await, json!({"hr_high": 110, "rate_hz": 2}));
    });
}

#[test]
fn a_deletion_replayed_six_minutes_late_deletes_dr_s_shadow_unless_dr_wrote_it_since() {
    block_on(async {
        let thing = wearable();
        for dr_wrote_since in [false, true] {
            let primary = FakeRegistry::default();
            let created = primary
                .shadow_write_message(&thing, None, json!({"hr_high": 120}), 100)
                .await;
            let deleted = ReplicationMessage {
                subject: Subject::ShadowDeleted {
                    thing_name: thing.clone(),
                    shadow_name: None,
                    version: 2,
                    timestamp: 110,
                },
                ..created.clone()
            };
            let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
            deliver(&created, &dr, &ledger, 105).await;
            if dr_wrote_since {
                dr.update_shadow(
                    &thing,
                    None,
                    &json!({"state": {"desired": {"hr_high": 90}}}),
                )
                .await
                .unwrap();
            }
            // Six minutes after primary's deletion: DR's GET says "now", whoever wrote last.
            deliver(&deleted, &dr, &ledger, 110 + 360).await;
            let expected = if dr_wrote_since {
                json!({"hr_high": 90})
            } else {
                Value::Null
            };
            assert_eq!(
                desired_in(&dr).await,
                expected,
                "DR wrote since: {dr_wrote_since}"
            );
        }
    });
}

/// One primary write: which key, which value (`None` deletes the key), and DR's lag.
fn write() -> impl Strategy<Value = (usize, Option<u8>)> {
    (0usize..3, prop::option::of(0u8..4))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any history of primary writes, delivered in any order, duplicated, at DR times
    /// unrelated to primary's: with DR taking no writes of its own, DR ends at primary's
    /// last state. With a leaf written in DR after the first delivery, and never touched by
    /// primary again, DR keeps it.
    #[test]
    fn dr_converges_on_primary_s_last_state_whatever_the_order_and_keeps_its_own_writes(
        writes in prop::collection::vec(write(), 1..8),
        seed in any::<u64>(),
        dr_writes in any::<bool>(),
    ) {
        block_on(async {
            let thing = wearable();
            let primary = FakeRegistry::default();
            let mut messages = Vec::new();
            for (i, (key, value)) in writes.iter().enumerate() {
                let desired = json!({ format!("k{key}"): value });
                // Several writes share a second, as on a busy shadow.
                let at = 100 + i64::try_from(i / 2).unwrap();
                messages.push(primary.shadow_write_message(&thing, None, desired, at).await);
            }
            let mut deliveries: Vec<usize> = (0..messages.len()).chain(0..messages.len() / 2).collect();
            super::tests::shuffle(&mut deliveries, seed);
            let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
            for (n, i) in deliveries.iter().enumerate() {
                deliver(&messages[*i], &dr, &ledger, 500 + i64::try_from(n).unwrap()).await;
                if dr_writes && n == 0 {
                    dr.update_shadow(&thing, None, &json!({"state": {"desired": {"dr_only": 1}}}))
                        .await
                        .unwrap();
                }
            }
            let mut expected = primary
                .shadow(&thing, None)
                .await
                .unwrap()
                .and_then(|d| d.state.desired)
                .unwrap_or(json!({}));
            if dr_writes {
                expected["dr_only"] = json!(1);
            }
            let in_dr = desired_in(&dr).await;
            let in_dr = if in_dr.is_null() { json!({}) } else { in_dr };
            assert_eq!(in_dr, expected, "deliveries {deliveries:?}");
        });
    }
}
