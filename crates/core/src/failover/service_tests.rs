//! The health checker's invocation over fakes, on a manual clock: minutes of rounds in
//! microseconds, deterministically.

use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::failover::fake::{round, World, DOWN, UP};
use crate::failover::Step;
use crate::report::json;
use crate::time::ManualClock;

/// A prober that answers the rounds it was given, in order, then healthy ones; each round
/// takes `latency` of the clock's time.
struct Script<'c> {
    rounds: Mutex<Vec<&'static [bool]>>,
    clock: &'c ManualClock,
    latency: Duration,
}

impl<'c> Script<'c> {
    fn new(clock: &'c ManualClock, rounds: &[&'static [bool]]) -> Self {
        Self {
            rounds: Mutex::new(rounds.iter().rev().copied().collect()),
            clock,
            latency: Duration::from_millis(200),
        }
    }
}

impl Prober for Script<'_> {
    async fn round(&self, at_ms: EpochMillis) -> Round {
        self.clock.advance(self.latency);
        let healthy = self.rounds.lock().unwrap().pop().unwrap_or(UP);
        round(at_ms, healthy)
    }
}

const INTERVAL: Duration = Duration::from_secs(10);

fn rounds(clock: &ManualClock, per_invocation: u32, budget: Duration) -> Rounds {
    Rounds {
        per_invocation,
        interval: INTERVAL,
        deadline: clock.instant() + budget,
    }
}

#[tokio::test]
async fn an_invocation_takes_its_rounds_an_interval_apart_within_its_deadline() {
    // Given a 60 s invocation with 6 rounds of 10 s asked for.
    let (world, clock) = (World::new(), ManualClock::at(1_000_000));
    let prober = Script::new(&clock, &[]);
    // When it runs.
    let report = run_rounds(
        &world.controller(),
        &prober,
        rounds(&clock, 6, Duration::from_secs(60)),
        &clock,
    )
    .await;
    // Then it takes rounds while another round and a runbook step after it still fit: at
    // 0, 10.2, 20.4, 30.6 and 40.8 s (each probe takes 0.2 s); after the fifth only 19 s
    // are left (< 10 s + 15 s).
    let at: Vec<i64> = report
        .rounds
        .iter()
        .map(|r| r.round.at_ms - 1_000_000)
        .collect();
    assert_eq!(
        at,
        [0, 10_200, 20_400, 30_600, 40_800],
        "an interval apart, after each round's own time"
    );
    assert!(report.rounds.iter().all(|r| !r.down));
    assert!(clock.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn three_down_rounds_in_one_invocation_fail_over_and_report_the_decision() {
    let (world, clock) = (World::new(), ManualClock::at(1_000_000));
    let prober = Script::new(&clock, &[DOWN, DOWN, DOWN]);
    let report = run_rounds(
        &world.controller(),
        &prober,
        rounds(&clock, 4, Duration::from_secs(60)),
        &clock,
    )
    .await;
    let decisions: Vec<_> = report
        .rounds
        .iter()
        .map(|r| match &r.result {
            RoundResult::Decided(o) => o.decision.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        matches!(decisions[2], Decision::FailOver(_)),
        "{decisions:?}"
    );
    assert_eq!(*world.switch.flips.lock().unwrap(), [crate::Side::Dr]);
    let document = json::render(&report);
    assert_eq!(document["rounds"][2]["decision"], "fail-over");
    assert_eq!(document["rounds"][2]["failover_decided"], 1);
    assert_eq!(document["rounds"][0]["down"], true);
    assert_eq!(report.failed(), None);
}

#[tokio::test]
async fn a_slow_probe_leaves_no_room_for_another_round() {
    let (world, clock) = (World::new(), ManualClock::at(0));
    let mut prober = Script::new(&clock, &[]);
    // Each round takes 40 s (probes timing out one after another).
    prober.latency = Duration::from_secs(40);
    let report = run_rounds(
        &world.controller(),
        &prober,
        rounds(&clock, 6, Duration::from_secs(60)),
        &clock,
    )
    .await;
    assert_eq!(
        report.rounds.len(),
        1,
        "20 s left < 10 s interval + 15 s step room"
    );
}

#[tokio::test]
async fn a_failing_runbook_step_is_reported_and_the_rounds_go_on() {
    let (world, clock) = (World::new(), ManualClock::at(0));
    world
        .switch
        .fail_flips
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let prober = Script::new(&clock, &[DOWN, DOWN, DOWN, DOWN]);
    let report = run_rounds(
        &world.controller(),
        &prober,
        rounds(&clock, 4, Duration::from_secs(60)),
        &clock,
    )
    .await;
    assert!(
        matches!(report.rounds[2].result, RoundResult::StepFailed(_)),
        "{:?}",
        report.rounds[2]
    );
    assert!(
        matches!(&report.rounds[3].result, RoundResult::Decided(o) if o.steps.contains(&Step::Flip)),
        "the next round retries the flip: {:?}",
        report.rounds[3]
    );
    assert_eq!(
        json::render(&report)["rounds"][2]["runbook_step_failures"],
        1
    );
}

#[tokio::test]
async fn verifying_the_switch_waits_for_calm() {
    let world = World::new();
    let c = world.controller();
    assert_eq!(
        verify_switch_when_calm(&world.store, &world.switch, Duration::from_secs(1)).await,
        "traffic switch setup verified"
    );
    c.force_failover("oncall", "drill", 1).await.unwrap();
    assert!(
        verify_switch_when_calm(&world.store, &world.switch, Duration::from_secs(1))
            .await
            .contains("left alone")
    );
}
