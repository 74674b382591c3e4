use crate::port::PortError;
use crate::time::EpochMillis;

use super::fake::*;
use super::machine::{begin_failback, force_failover, observe};
use super::simulation::simulate;
use super::*;
use crate::Side;

#[test]
fn ten_thousand_rounds_of_twenty_percent_probe_noise_never_fail_over() {
    let report = simulate(&settings(), 10_000, 3, 0.2, None, 0x5EED, 10_000);
    assert_eq!(report.false_failovers, 0, "{report:?}");
    assert!(
        report.down_rounds > 0,
        "the noise must reach the machine: {report:?}"
    );
}

#[test]
fn a_real_outage_fails_over_within_the_threshold_even_through_the_noise() {
    let report = simulate(&settings(), 10_000, 3, 0.2, Some(5_000), 0x5EED, 10_000);
    assert_eq!(report.false_failovers, 0, "{report:?}");
    let rounds = report.decision_rounds.expect("failed over");
    assert!(rounds <= 3 + 1, "decided after {rounds} rounds");
}

#[test]
fn a_quorum_of_two_trips_on_two_failed_probes_and_not_on_one() {
    let s = Settings {
        quorum: Some(2),
        ..settings()
    };
    assert!(round(0, &[false, false, true]).is_down(s.quorum));
    assert!(!round(0, &[false, true, true]).is_down(s.quorum));
    assert!(
        !round(0, &[false, false, true]).is_down(None),
        "default: all must fail"
    );
    assert!(
        Round {
            at_ms: 0,
            outcomes: vec![]
        }
        .is_down(None),
        "no probe vouches for primary"
    );
}

#[test]
fn hysteresis_one_up_round_does_not_make_primary_healthy_and_a_blip_does_not_fail_over() {
    let s = settings();
    let mut state = State::initial(0);
    assert_eq!(observe(&mut state, &round(1, DOWN), &s), Decision::Stay);
    assert_eq!(state.mode, Mode::Degraded);
    observe(&mut state, &round(2, DOWN), &s);
    observe(&mut state, &round(3, UP), &s);
    assert_eq!(state.mode, Mode::Degraded, "one up round is not recovery");
    assert_eq!(
        observe(&mut state, &round(4, DOWN), &s),
        Decision::Stay,
        "streak restarted"
    );
    for t in 5..8 {
        observe(&mut state, &round(t, UP), &s);
    }
    assert_eq!(state.mode, Mode::Healthy);
}

#[test]
fn a_hold_stops_automatic_failover_and_force_still_works() {
    let s = settings();
    let mut state = State::initial(0);
    state.hold = Some(Hold {
        by: "oncall".into(),
        reason: "primary maintenance".into(),
        at_ms: 0,
        until_ms: None,
    });
    for t in 1..=10 {
        let decision = observe(&mut state, &round(t, DOWN), &s);
        assert!(
            matches!(decision, Decision::Stay | Decision::Held),
            "{decision:?}"
        );
    }
    assert_eq!(state.mode, Mode::Degraded);
    force_failover(&mut state, 11).unwrap();
    assert_eq!(state.mode, Mode::FailedOver);
    assert!(force_failover(&mut state, 12).is_err(), "twice is refused");
}

#[test]
fn no_automatic_failover_within_the_dwell_time_of_the_last_flip() {
    let s = settings();
    let mut state = State::initial(0);
    state.last_flip_ms = Some(1_000);
    for t in 1..=3 {
        observe(&mut state, &round(1_000 + t, DOWN), &s);
    }
    assert_eq!(
        observe(&mut state, &round(1_004, DOWN), &s),
        Decision::Dwelling
    );
    let later = 1_000 + s.min_dwell_ms;
    assert!(matches!(
        observe(&mut state, &round(later, DOWN), &s),
        Decision::FailOver(_)
    ));
}

#[test]
fn failback_needs_a_healthy_primary_for_long_enough_and_a_reverse_reconcile_after_the_failover() {
    let s = settings();
    let mut state = State::initial(0);
    assert!(matches!(
        begin_failback(&mut state, &s, 0),
        Err(Refused::NotFailedOver(Mode::Healthy))
    ));
    force_failover(&mut state, 1_000).unwrap();
    observe(&mut state, &round(1_500, DOWN), &s);
    let no_wait = Settings {
        failback_after_healthy_ms: 0,
        ..s
    };
    assert!(
        matches!(
            begin_failback(&mut state, &no_wait, 1_600),
            Err(Refused::PrimaryNotHealthyLongEnough { up_for_s: 0, .. })
        ),
        "a primary that is down now never qualifies"
    );
    observe(&mut state, &round(2_000, UP), &s);
    observe(&mut state, &round(s.failback_after_healthy_ms, UP), &s);
    let too_soon = begin_failback(&mut state, &s, 2_000 + s.failback_after_healthy_ms - 1);
    assert!(
        matches!(too_soon, Err(Refused::PrimaryNotHealthyLongEnough { .. })),
        "{too_soon:?}"
    );
    let ready_at = 2_000 + s.failback_after_healthy_ms;
    state.reverse_reconciled_ms = Some(ready_at - 1);
    assert!(
        matches!(
            begin_failback(&mut state, &s, ready_at + s.max_round_age_ms),
            Err(Refused::StaleProbes { .. })
        ),
        "no recent round: the checker is not running, primary's health unknown"
    );
    observe(&mut state, &round(ready_at - 10_000, UP), &s);
    let mut partial = round(ready_at - 5_000, UP);
    partial.outcomes[0].healthy = false;
    observe(&mut state, &partial, &s);
    assert!(
        matches!(
            begin_failback(&mut state, &s, ready_at),
            Err(Refused::PrimaryNotHealthyLongEnough { .. })
        ),
        "a round that is merely not down (one probe failing) restarts the healthy time"
    );
    // Again: every probe passing for the whole time.
    let ready_at = ready_at + s.failback_after_healthy_ms;
    for t in (ready_at - s.failback_after_healthy_ms..=ready_at).step_by(10_000) {
        observe(&mut state, &round(t - 5_000, UP), &s);
    }
    state.reverse_reconciled_ms = Some(500); // before the failover: does not count
    assert_eq!(
        begin_failback(&mut state, &s, ready_at),
        Err(Refused::NotReconciled)
    );
    state.reverse_reconciled_ms = Some(ready_at - 1);
    begin_failback(&mut state, &s, ready_at).unwrap();
    assert_eq!(state.mode, Mode::FailingBack);
}

// ---- the controller over fakes ----

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn an_outage_runs_the_whole_runbook_flip_notify_restore_audit_then_waits_for_the_database() {
    block_on(async {
        let world = World::new();
        *world.database.polls.lock().unwrap() = 1;
        let c = world.controller();
        for t in 1..=2 {
            let outcome = c.round(round(t * 10_000, DOWN)).await.unwrap();
            assert_eq!(outcome.decision, Decision::Stay);
        }
        let outcome = c.round(round(30_000, DOWN)).await.unwrap();
        assert!(matches!(outcome.decision, Decision::FailOver(_)));
        assert_eq!(
            outcome.steps,
            [Step::Flip, Step::Notify, Step::StartRestore, Step::Audit],
            "traffic first; the database is still restoring"
        );
        assert_eq!(*world.switch.flips.lock().unwrap(), [Side::Dr]);
        let audits = world.store.audits.lock().unwrap().clone();
        assert_eq!(audits.len(), 1);
        assert!(
            audits[0].runbook.evidence.is_some(),
            "the probe evidence is audited"
        );
        assert!(audits[0]
            .runbook
            .reason
            .contains("3 consecutive rounds down"));

        // The next round (next invocation) finishes it.
        let outcome = c.round(round(40_000, DOWN)).await.unwrap();
        assert_eq!(outcome.steps, [Step::DatabaseReady]);
        assert!(outcome.finished.is_some());
        assert_eq!(
            *world.notifier.0.lock().unwrap(),
            [
                "IoT DR: FAILED OVER to DR (us-west-2)",
                "IoT DR: restored database available in DR"
            ]
        );
        assert_eq!(outcome.record.state.mode, Mode::FailedOver);
        assert_eq!(
            *world.switch.flips.lock().unwrap(),
            [Side::Dr],
            "flipped once"
        );
    });
}

#[test]
fn a_waiting_restore_shows_its_progress_for_its_runbook_and_pages_once_when_overdue() {
    block_on(async {
        let mut world = World::new();
        world.database.overdue = true;
        *world.database.polls.lock().unwrap() = 3;
        let c = world.controller();
        for t in 1..=3 {
            c.round(round(t * 10_000, DOWN)).await.unwrap();
        }
        let pending = c.round(round(40_000, DOWN)).await.unwrap();
        let runbook = pending.record.runbook.clone().expect("waiting");
        // The database recovery is asked about this runbook, not the protected name.
        assert_eq!(
            *world.database.calls.lock().unwrap(),
            [
                format!("start {}", runbook.id),
                format!("ready {}", runbook.id),
                format!("ready {}", runbook.id)
            ]
        );
        // The latest progress is kept (for `drctl status`), replaced, not piled up.
        assert_eq!(
            runbook.progress.as_deref(),
            Some("fleetdb: creating, 1 polls to go")
        );
        assert!(runbook.overdue);
        let overdue_notes = runbook
            .notes
            .iter()
            .filter(|n| n.contains("polls to go"))
            .count();
        assert_eq!(overdue_notes, 1, "{:?}", runbook.notes);
        c.round(round(50_000, DOWN)).await.unwrap();
        let done = c.round(round(60_000, DOWN)).await.unwrap();
        assert!(done.finished.is_some_and(|r| r.progress.is_none()));
        assert_eq!(
            *world.notifier.0.lock().unwrap(),
            [
                "IoT DR: FAILED OVER to DR (us-west-2)",
                "IoT DR: restored database OVERDUE in DR",
                "IoT DR: restored database available in DR"
            ],
            "the overdue page once, not every round"
        );
    });
}

#[test]
fn a_failed_step_leaves_the_runbook_pending_and_the_next_call_continues_from_it() {
    block_on(async {
        let world = World::new();
        world
            .switch
            .fail_flips
            .store(1, std::sync::atomic::Ordering::Relaxed);
        let c = world.controller();
        let error = c
            .force_failover("oncall", "drill", 1_000)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                FailoverError::Step {
                    step: Step::Flip,
                    ..
                }
            ),
            "{error}"
        );
        let pending = c.current(2_000).await.unwrap().record.runbook.unwrap();
        assert_eq!(pending.done, [], "the flip comes first, and failed");
        let outcome = c.resume(2_000).await.unwrap();
        assert_eq!(
            outcome.steps,
            [
                Step::Flip,
                Step::Notify,
                Step::StartRestore,
                Step::Audit,
                Step::DatabaseReady
            ]
        );
        assert_eq!(*world.switch.flips.lock().unwrap(), [Side::Dr]);
    });
}

#[test]
fn two_concurrent_deciders_at_the_threshold_exactly_one_acts() {
    block_on(async {
        let mut world = World::new();
        let c = world.controller();
        for t in 1..=2 {
            c.round(round(t, DOWN)).await.unwrap();
        }
        world.store.barrier = Some(tokio::sync::Barrier::new(2));
        let c = world.controller();
        let (a, b) = tokio::join!(c.round(round(3, DOWN)), c.round(round(3, DOWN)));
        let fenced = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Err(FailoverError::Fenced(_))))
            .count();
        assert_eq!(fenced, 1, "{a:?} {b:?}");
        assert_eq!(*world.switch.flips.lock().unwrap(), [Side::Dr], "one flip");
        assert_eq!(
            world.notifier.0.lock().unwrap().len(),
            2,
            "one failover's notifications"
        );
        assert_eq!(world.store.audits.lock().unwrap().len(), 1);
    });
}

#[test]
fn failback_is_refused_until_its_preconditions_hold_then_flips_back_and_rearms() {
    block_on(async {
        let world = World::new();
        let c = world.controller();
        c.force_failover("oncall", "region outage", 0)
            .await
            .unwrap();
        c.round(round(10_000, UP)).await.unwrap();
        let early = c.failback("oncall", None, 20_000).await.unwrap_err();
        assert!(matches!(
            early,
            FailoverError::Refused(Refused::PrimaryNotHealthyLongEnough { .. })
        ));
        let later = 10_000 + settings().failback_after_healthy_ms;
        c.round(round(later - 1_000, UP)).await.unwrap();
        let unreconciled = c.failback("oncall", None, later).await.unwrap_err();
        assert!(matches!(
            unreconciled,
            FailoverError::Refused(Refused::NotReconciled)
        ));
        c.reverse_reconciled(later).await.unwrap();
        let outcome = c.failback("oncall", None, later + 1).await.unwrap();
        assert_eq!(
            outcome.steps,
            [
                Step::Flip,
                Step::Notify,
                Step::CarryBack,
                Step::RetireDatabases,
                Step::Audit
            ]
        );
        assert_eq!(outcome.record.state.mode, Mode::Healthy);
        assert_eq!(
            *world.switch.flips.lock().unwrap(),
            [Side::Dr, Side::Primary]
        );
        // Fenced against flapping: an outage right after failback only dwells.
        for t in 1..=3 {
            c.round(round(later + 1 + t, DOWN)).await.unwrap();
        }
        let outcome = c.round(round(later + 5, DOWN)).await.unwrap();
        assert_eq!(outcome.decision, Decision::Dwelling);
    });
}

#[test]
fn hold_and_release_are_recorded_and_a_held_checker_does_not_act() {
    block_on(async {
        let world = World::new();
        let c = world.controller();
        c.hold("oncall", "planned primary maintenance", None, 0)
            .await
            .unwrap();
        for t in 1..=5 {
            c.round(round(t, DOWN)).await.unwrap();
        }
        assert!(world.switch.flips.lock().unwrap().is_empty());
        let released = c.release(6).await.unwrap();
        assert_eq!(released.state.hold, None);
        let outcome = c.round(round(7, DOWN)).await.unwrap();
        assert!(matches!(outcome.decision, Decision::FailOver(_)));
    });
}

/// A database that never becomes ready: its readiness check fails every round.
struct BrokenDatabase;

impl DatabaseRecovery for BrokenDatabase {
    async fn start(&self, _: &str) -> Vec<String> {
        vec!["fleetdb: restoring fleetdb-dr-1".to_owned()]
    }

    async fn ready(&self, _: &str, _: EpochMillis) -> Result<Readiness, PortError> {
        Err(PortError::transient(
            "DescribeDBInstances",
            "no answer in time ".repeat(40),
        ))
    }
}

impl DatabaseFailback for BrokenDatabase {
    async fn restored(&self, _: &str) -> Result<Vec<String>, PortError> {
        Ok(Vec::new())
    }

    async fn carry_back(&self, _: &str, _: &str, _: EpochMillis) -> Result<Readiness, PortError> {
        Ok(Readiness::Ready(String::new()))
    }

    async fn retire(&self, _: &str, _: &str, _: EpochMillis) -> Result<Readiness, PortError> {
        Ok(Readiness::Ready(String::new()))
    }
}

#[test]
fn ten_thousand_failed_rounds_keep_the_state_item_small() {
    block_on(async {
        let world = World::new();
        let c = Controller {
            store: &world.store,
            switch: &world.switch,
            notifier: &world.notifier,
            database: &BrokenDatabase,
            settings: settings(),
            dr_region: "us-west-2".into(),
        };
        let mut failures = 0;
        for t in 1..=10_000_i64 {
            match c.round(round(t * 10_000, DOWN)).await {
                Err(FailoverError::Step {
                    step: Step::DatabaseReady,
                    ..
                }) => failures += 1,
                Ok(_) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert!(failures > 9_990, "{failures}");
        let stored = world.store.stored.lock().unwrap().clone().unwrap();
        let runbook = stored.record.runbook.as_ref().unwrap();
        assert_eq!(runbook.notes.len(), NOTES_KEPT);
        assert!(runbook.notes_omitted > 9_900, "{}", runbook.notes_omitted);
        assert!(
            runbook.notes[0].contains("restoring"),
            "the first notes stay"
        );
        let size = serde_json::to_string(&stored.record).unwrap().len();
        // DynamoDB's limit is 400 KB; this stays under 16 KiB after hours of failures.
        assert!(size < 16 * 1024, "{size} bytes");
        eprintln!("state record after 10,000 failed rounds: {size} bytes");
        assert!(runbook.notes_line().contains("more …"));
    });
}

#[test]
fn a_hold_with_an_expiry_lapses_and_a_held_outage_alerts_once() {
    block_on(async {
        let world = World::new();
        let c = world.controller();
        c.hold("oncall", "maintenance window", Some(100_000), 0)
            .await
            .unwrap();
        for t in 1..=6 {
            let outcome = c.round(round(t * 10_000, DOWN)).await.unwrap();
            assert_ne!(outcome.record.state.mode, Mode::FailedOver);
        }
        let held: Vec<_> = world
            .notifier
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n.contains("HELD"))
            .cloned()
            .collect();
        assert_eq!(
            held,
            ["IoT DR: primary DOWN, failover HELD"],
            "once, not every round"
        );
        // The window is over: the next down round fails over.
        let outcome = c.round(round(110_000, DOWN)).await.unwrap();
        assert!(
            matches!(outcome.decision, Decision::FailOver(_)),
            "{:?}",
            outcome.decision
        );
        assert!(outcome.record.state.hold.is_none());
    });
}

/// A notifier that always fails.
struct DeadNotifier;

impl Notifier for DeadNotifier {
    async fn notify(&self, _subject: &str, _message: &str) -> Result<(), PortError> {
        Err(PortError::transient("Publish", "no answer in time"))
    }
}

#[test]
fn a_notifier_that_never_answers_holds_no_step_of_the_runbook() {
    block_on(async {
        let world = World::new();
        let c = Controller {
            store: &world.store,
            switch: &world.switch,
            notifier: &DeadNotifier,
            database: &world.database,
            settings: settings(),
            dr_region: "us-west-2".into(),
        };
        let outcome = c.force_failover("oncall", "drill", 1_000).await.unwrap();
        assert!(outcome.finished.is_some(), "{outcome:?}");
        let notes = outcome.finished.unwrap().notes;
        assert_eq!(
            notes
                .iter()
                .filter(|n| n.starts_with("notification FAILED"))
                .count(),
            2,
            "{notes:?}"
        );
    });
}

#[test]
fn a_first_deploy_is_held_until_an_operator_releases_it_and_pages_once_when_primary_is_down() {
    block_on(async {
        // Given a DR stack just deployed: no state stored, its checker probing a primary
        // whose stack (the probes' roles) does not exist yet
        let world = World::first_deploy();
        let c = world.controller();
        for t in 1..=10 {
            let outcome = c.round(round(t * 10_000, DOWN)).await.unwrap();
            // Then nothing moves, however many rounds are down
            assert_eq!(outcome.record.state.mode, Mode::Degraded);
            assert_eq!(
                outcome.record.state.hold.as_ref().map(|h| h.by.as_str()),
                Some(FIRST_DEPLOY)
            );
        }
        assert!(world.switch.flips.lock().unwrap().is_empty());
        // And operators hear of it once
        assert_eq!(
            *world.notifier.0.lock().unwrap(),
            ["IoT DR: primary DOWN, failover HELD"]
        );
        // When the operator arms it (after readiness), the next down round fails over
        c.release(110_000).await.unwrap();
        let outcome = c.round(round(120_000, DOWN)).await.unwrap();
        assert!(matches!(outcome.decision, Decision::FailOver(_)));
    });
}

#[test]
fn while_dr_serves_every_round_publishes_dr_runbook_pending_or_not() {
    block_on(async {
        // Given a database that takes three more rounds to be ready.
        let world = World::new();
        *world.database.polls.lock().unwrap() = 3;
        let c = world.controller();
        // When primary goes down: two rounds below the threshold, the deciding round, then
        // rounds while the runbook waits for RDS, then after it finished.
        for t in 1..=8 {
            c.round(round(t * 10_000, DOWN)).await.unwrap();
        }
        // Then primary was shown until the decision, nothing by the deciding round (its
        // flip step published), DR by every round after, pending runbook or not.
        assert_eq!(
            *world.switch.heartbeats.lock().unwrap(),
            [
                Side::Primary,
                Side::Primary,
                Side::Dr,
                Side::Dr,
                Side::Dr,
                Side::Dr,
                Side::Dr
            ]
        );
        let stored = world.store.stored.lock().unwrap().clone().unwrap();
        assert!(stored.record.runbook.is_none(), "the runbook finished");
    });
}

#[test]
fn an_outage_within_the_dwell_time_pages_once_and_fails_over_once_the_dwell_time_has_passed() {
    block_on(async {
        // Given a failback a moment ago
        let world = World::new();
        let c = world.controller();
        c.force_failover("oncall", "region outage", 0)
            .await
            .unwrap();
        c.reverse_reconciled(1_000).await.unwrap();
        let back = 2_000 + settings().failback_after_healthy_ms;
        c.round(round(2_000, UP)).await.unwrap();
        c.round(round(back - 1_000, UP)).await.unwrap();
        c.failback("oncall", None, back).await.unwrap();
        world.notifier.0.lock().unwrap().clear();
        // When primary goes down again within the dwell time, round after round
        let mut t = back;
        let mut decisions = Vec::new();
        while t < back + settings().min_dwell_ms - 10_000 {
            t += 10_000;
            decisions.push(c.round(round(t, DOWN)).await.unwrap().decision);
        }
        // Then traffic stays, and operators are paged once for the outage, not every round
        assert!(decisions.contains(&Decision::Dwelling));
        assert!(world
            .switch
            .flips
            .lock()
            .unwrap()
            .ends_with(&[Side::Primary]));
        assert_eq!(
            *world.notifier.0.lock().unwrap(),
            ["IoT DR: primary DOWN, failover SUPPRESSED (dwell time)"]
        );
        // And once the dwell time has passed with primary still down, it fails over
        let outcome = c
            .round(round(back + settings().min_dwell_ms + 1, DOWN))
            .await
            .unwrap();
        assert!(matches!(outcome.decision, Decision::FailOver(_)));
    });
}

#[test]
fn a_runbook_before_its_flip_shows_nothing_and_a_failback_after_its_flip_shows_primary() {
    let mut record = FailoverRecord {
        state: State::initial(0),
        runbook: None,
    };
    assert_eq!(record.switch_shows(), Some(Side::Primary));
    force_failover(&mut record.state, 1).unwrap();
    record.runbook = Some(Runbook::new(
        RunbookKind::Failover,
        "oncall",
        "x".into(),
        None,
        1,
    ));
    assert_eq!(record.switch_shows(), None, "the flip step owns the switch");
    record.runbook.as_mut().unwrap().done.push(Step::Flip);
    assert_eq!(record.switch_shows(), Some(Side::Dr));
    record.runbook = None;
    assert_eq!(record.switch_shows(), Some(Side::Dr));
    record.state.mode = Mode::FailingBack;
    let mut failback = Runbook::new(RunbookKind::Failback, "oncall", "y".into(), None, 2);
    record.runbook = Some(failback.clone());
    assert_eq!(
        record.switch_shows(),
        None,
        "a 0 during the failback's settle would keep Route 53 on DR"
    );
    failback.done.push(Step::Flip);
    record.runbook = Some(failback);
    assert_eq!(record.switch_shows(), Some(Side::Primary));
}

/// A store whose saves are all refused: another decider always saved first.
struct AlwaysFenced(FakeStore);

impl StateStore for AlwaysFenced {
    async fn load(&self) -> Result<Option<Stored>, PortError> {
        self.0.load().await
    }

    async fn save(&self, _record: &FailoverRecord, _expected: u64) -> Result<bool, PortError> {
        Ok(false)
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        self.0.audit(entry).await
    }
}

#[test]
fn a_fenced_round_publishes_no_heartbeat_and_pages_nobody() {
    block_on(async {
        // Given a held outage past the threshold (a round would page "HELD") and DR
        // serving (a round would publish DR)
        let world = World::new();
        let c = world.controller();
        c.force_failover("oncall", "drill", 0).await.unwrap();
        c.hold("oncall", "investigating", None, 1).await.unwrap();
        world.switch.heartbeats.lock().unwrap().clear();
        world.notifier.0.lock().unwrap().clear();
        let fenced = AlwaysFenced(FakeStore::default());
        *fenced.0.stored.lock().unwrap() = world.store.stored.lock().unwrap().clone();
        let c = Controller {
            store: &fenced,
            switch: &world.switch,
            notifier: &world.notifier,
            database: &world.database,
            settings: settings(),
            dr_region: "us-west-2".into(),
        };
        // When its rounds all lose their saves
        for t in 1..=5 {
            let result = c.round(round(t * 10_000, DOWN)).await;
            assert!(
                matches!(result, Err(FailoverError::Fenced(_))),
                "{result:?}"
            );
        }
        // Then it published nothing and paged nobody
        assert!(world.switch.heartbeats.lock().unwrap().is_empty());
        assert!(world.notifier.0.lock().unwrap().is_empty());
    });
}

/// A record as a crash right after the flip left it: DR serves, the page not sent.
fn crashed_after_the_flip(world: &World) {
    let mut state = State::initial(0);
    force_failover(&mut state, 1_000).unwrap();
    let mut runbook = Runbook::new(
        RunbookKind::Failover,
        "health-checker",
        "3 consecutive rounds down".into(),
        None,
        1_000,
    );
    runbook.done.push(Step::Flip);
    *world.store.stored.lock().unwrap() = Some(Stored {
        record: FailoverRecord {
            state,
            runbook: Some(runbook),
        },
        version: 7,
    });
}

fn failed_over_pages(world: &World) -> usize {
    world
        .notifier
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|n| n.contains("FAILED OVER"))
        .count()
}

#[test]
fn a_round_and_a_resume_racing_after_a_crash_page_once_and_the_loser_did_nothing() {
    block_on(async {
        // Given a crash after the flip
        let mut world = World::new();
        crashed_after_the_flip(&world);
        world.store.barrier = Some(tokio::sync::Barrier::new(2));
        let c = world.controller();
        // When a scheduled round and `drctl failover --resume` continue it at once (both
        // read the same version; the round, last to read, goes on first and wins)
        let (b, a) = tokio::join!(c.resume(20_000), c.round(round(20_000, DOWN)));
        // Then exactly one acted, and "FAILED OVER" was paged once
        let fenced = [a.is_err(), b.is_err()].iter().filter(|e| **e).count();
        assert_eq!(fenced, 1, "{a:?}\n{b:?}");
        assert!(
            matches!(b, Err(FailoverError::Fenced(_))),
            "the resume lost its claim: {b:?}"
        );
        assert_eq!(failed_over_pages(&world), 1);
    });
}

#[test]
fn two_concurrent_controllers_on_one_store_page_a_runbook_once() {
    block_on(async {
        // Given a crash after the flip, and two controllers (two invocations) on the store
        let mut world = World::new();
        crashed_after_the_flip(&world);
        world.store.barrier = Some(tokio::sync::Barrier::new(2));
        let (one, two) = (world.controller(), world.controller());
        // When both resume it at once
        let (a, b) = tokio::join!(one.resume(20_000), two.resume(20_000));
        // Then one finished the runbook, the other was fenced before paging
        assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1);
        assert_eq!(failed_over_pages(&world), 1);
        world.store.barrier = None;
        let c = world.controller();
        let outcome = c.resume(30_000).await.unwrap();
        assert!(outcome.record.runbook.is_none(), "{outcome:?}");
        assert_eq!(failed_over_pages(&world), 1, "never again for this runbook");
    });
}

#[test]
fn a_page_claimed_by_an_invocation_that_died_is_sent_after_the_lease() {
    block_on(async {
        // Given an invocation that claimed the page and died before sending it
        let world = World::new();
        crashed_after_the_flip(&world);
        {
            let mut stored = world.store.stored.lock().unwrap();
            let runbook = stored.as_mut().unwrap().record.runbook.as_mut().unwrap();
            runbook.paging = Some(Paging {
                step: Step::Notify,
                at_ms: 20_000,
            });
        }
        let c = world.controller();
        // When another continues the runbook within the lease: it leaves the page to the
        // claimer (who may be sending it now)
        let outcome = c.resume(20_000 + PAGING_LEASE_MS - 1).await.unwrap();
        assert!(outcome.steps.is_empty(), "{outcome:?}");
        assert_eq!(failed_over_pages(&world), 0);
        // Then after the lease the page is sent: a lost page is worse than a duplicate
        let outcome = c.resume(20_000 + PAGING_LEASE_MS).await.unwrap();
        assert_eq!(outcome.steps[0], Step::Notify);
        assert_eq!(failed_over_pages(&world), 1);
    });
}

/// A failover that restored `restored`, finished, primary healthy and reconciled since:
/// the world, the controller's failback time.
async fn failed_over_with(restored: &[&str], carry_polls: u32) -> (World, EpochMillis) {
    let mut world = World::new();
    world.database.restored = restored.iter().map(|s| (*s).to_owned()).collect();
    *world.database.carry_polls.lock().unwrap() = carry_polls;
    {
        let c = world.controller();
        c.force_failover("oncall", "region outage", 0)
            .await
            .unwrap();
        c.round(round(10_000, UP)).await.unwrap();
        let later = 10_000 + settings().failback_after_healthy_ms;
        c.round(round(later - 1_000, UP)).await.unwrap();
        c.reverse_reconciled(later).await.unwrap();
    }
    let at = 10_000 + settings().failback_after_healthy_ms + 1;
    (world, at)
}

#[test]
fn failback_is_refused_until_the_operator_chooses_what_becomes_of_dr_s_database_writes() {
    block_on(async {
        // Given a failover that restored a database DR wrote to
        let (world, at) =
            failed_over_with(&["fleetdb restored as fleetdb-failover-0, age 60 s"], 0).await;
        let c = world.controller();
        // When the operator fails back without a choice
        let refused = c.failback("oncall", None, at).await.unwrap_err();
        // Then nothing moved, and the refusal names the failover's databases and the choices
        let FailoverError::Refused(Refused::DatabaseChoiceNeeded {
            failover_runbook,
            restored,
        }) = &refused
        else {
            panic!("{refused}")
        };
        assert_eq!(failover_runbook, "failover-0");
        assert_eq!(restored.len(), 1);
        let said = refused.to_string();
        assert!(
            said.contains("fleetdb-failover-0")
                && said.contains("--carry-back-dr-database")
                && said.contains("--discard-dr-database-writes"),
            "{said}"
        );
        assert_eq!(*world.switch.flips.lock().unwrap(), [Side::Dr]);
        // A discard needs a reason on record.
        let no_reason = c
            .failback(
                "oncall",
                Some(DatabaseChoice::Discard { reason: " ".into() }),
                at,
            )
            .await
            .unwrap_err();
        assert!(matches!(
            no_reason,
            FailoverError::Refused(Refused::DiscardWithoutReason)
        ));
        assert_eq!(*world.switch.flips.lock().unwrap(), [Side::Dr]);
    });
}

#[test]
fn a_discard_is_on_record_with_its_reason_and_the_databases_are_retired() {
    block_on(async {
        let (world, at) = failed_over_with(&["fleetdb restored as fleetdb-failover-0"], 0).await;
        let c = world.controller();
        let outcome = c
            .failback(
                "oncall",
                Some(DatabaseChoice::Discard {
                    reason: "test data only".into(),
                }),
                at,
            )
            .await
            .unwrap();
        assert_eq!(outcome.record.state.mode, Mode::Healthy);
        let audits = world.store.audits.lock().unwrap();
        let audit = audits.last().unwrap();
        let dr = audit.runbook.dr_databases.as_ref().unwrap();
        assert_eq!(
            dr.choice,
            Some(DatabaseChoice::Discard {
                reason: "test data only".into()
            })
        );
        assert!(
            audit
                .runbook
                .notes
                .iter()
                .any(|n| n.contains("DISCARDED by oncall: test data only")),
            "{:?}",
            audit.runbook.notes
        );
        assert!(audit.runbook.notes.iter().any(|n| n.contains("RETIRED")));
        // Nothing carried back; the failover's databases retired.
        let calls = world.database.calls.lock().unwrap().clone();
        assert!(
            !calls.iter().any(|c| c.starts_with("carry-back")),
            "{calls:?}"
        );
        assert!(calls.contains(&format!("retire failover-0 {}", audit.runbook.id)));
    });
}

#[test]
fn carry_back_waits_for_rds_across_invocations_and_a_second_failback_continues_it() {
    block_on(async {
        // Given a failover whose database takes two more looks to carry back
        let (world, at) = failed_over_with(&["fleetdb restored as fleetdb-failover-0"], 2).await;
        let c = world.controller();
        // When the operator fails back carrying DR's writes
        let first = c
            .failback("oncall", Some(DatabaseChoice::CarryBack), at)
            .await
            .unwrap();
        // Then traffic moved first, and the runbook waits on RDS, saying on what
        assert_eq!(first.steps, [Step::Flip, Step::Notify]);
        assert_eq!(
            *world.switch.flips.lock().unwrap(),
            [Side::Dr, Side::Primary]
        );
        let pending = first.record.runbook.clone().unwrap();
        assert!(pending
            .progress
            .as_deref()
            .is_some_and(|p| p.contains("copying") && p.contains("drctl failback")));
        // The health checker's rounds keep primary published but never run the operator's
        // steps (they call primary's region).
        let round_outcome = c.round(round(at + 10_000, UP)).await.unwrap();
        assert!(round_outcome.steps.is_empty());
        assert_eq!(
            world.switch.heartbeats.lock().unwrap().last(),
            Some(&Side::Primary)
        );
        // A second `drctl failback` (no flags: the recorded choice stands) looks again
        let second = c.failback("oncall", None, at + 20_000).await.unwrap();
        assert!(second.steps.is_empty(), "{:?}", second.steps);
        // and the third finds it carried back, retires, audits and finishes
        let third = c.failback("oncall", None, at + 30_000).await.unwrap();
        assert_eq!(
            third.steps,
            [Step::CarryBack, Step::RetireDatabases, Step::Audit]
        );
        assert_eq!(third.record.state.mode, Mode::Healthy);
        let calls = world.database.calls.lock().unwrap().clone();
        let id = &pending.id;
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.starts_with("carry-back"))
                .collect::<Vec<_>>(),
            [&format!("carry-back failover-0 {id}"); 3],
            "the same failback's snapshot looked at, never a new one"
        );
        assert_eq!(
            *world.switch.flips.lock().unwrap(),
            [Side::Dr, Side::Primary],
            "flipped once"
        );
        let audit = world.store.audits.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            audit.runbook.dr_databases.unwrap().choice,
            Some(DatabaseChoice::CarryBack)
        );
        assert!(audit
            .runbook
            .notes
            .iter()
            .any(|n| n.contains("CARRIED BACK")));
    });
}

#[test]
fn a_failover_that_restored_nothing_needs_no_choice() {
    block_on(async {
        let (world, at) = failed_over_with(&[], 0).await;
        let outcome = world
            .controller()
            .failback("oncall", None, at)
            .await
            .unwrap();
        assert_eq!(outcome.record.state.mode, Mode::Healthy);
        let notes = outcome.finished.unwrap().notes;
        assert!(
            notes.iter().any(|n| n.contains("nothing to carry back")),
            "{notes:?}"
        );
    });
}

#[test]
fn a_record_stored_before_the_failover_id_was_kept_still_loads() {
    let old = r#"{"mode":"healthy","since_ms":0,"down_streak":0,"up_streak":0,"primary_up_since_ms":null,"hold":null,"last_flip_ms":null,"reverse_reconciled_ms":null,"rounds":0}"#;
    let state: State = serde_json::from_str(old).unwrap();
    assert_eq!(state.last_failover_runbook, None);
}
