//! Flow D's use case: one health-checker invocation. Several probe rounds of primary, an
//! interval apart, as long as the invocation's deadline leaves room for another round and
//! a runbook step after it; each folded into the persisted state by the [`Controller`]
//! (hysteresis, quorum, dwell, hold), which runs the failover runbook when it decides so.
//!
//! A round fenced by another decider ends the invocation (the other acts); a runbook step
//! that fails is reported and retried by the next round or invocation; a state store that
//! cannot be read or written fails the invocation, so Lambda's error metric fires.

use std::future::Future;
use std::time::{Duration, Instant};

use super::controller::{Controller, FailoverError, Outcome};
use super::machine::{Decision, Mode};
use super::ports::{DatabaseFailback, DatabaseRecovery, Notifier, StateStore, TrafficSwitch};
use super::probe::Round;
use super::runbook::FailoverRecord;
use crate::report::{Figure, Report, Section};
use crate::time::{Clock, EpochMillis};
use crate::Side;

/// Probes primary: one round of every configured probe, at once.
pub trait Prober {
    /// A round taken now (`at_ms`).
    fn round(&self, at_ms: EpochMillis) -> impl Future<Output = Round> + Send;
}

/// How an invocation paces its rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounds {
    /// At most this many rounds.
    pub per_invocation: u32,
    /// This long between rounds.
    pub interval: Duration,
    /// When the invocation's time is up.
    pub deadline: Instant,
}

/// Room kept after a round for a runbook step (a flip, a notification).
pub const STEP_ROOM: Duration = Duration::from_secs(15);

/// What became of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundResult {
    /// Folded in; what the controller decided and did.
    Decided(Box<Outcome>),
    /// Another decider saved first (it acts): the invocation stopped here.
    Fenced(u64),
    /// A runbook step failed; the runbook stays pending and is retried.
    StepFailed(String),
    /// The state store failed: the invocation fails.
    Failed(String),
}

/// One round and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundReport {
    /// The probes' outcomes.
    pub round: Round,
    /// Whether the round counted as down.
    pub down: bool,
    /// What became of it.
    pub result: RoundResult,
}

/// One invocation's rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheck {
    /// Every round taken, in order.
    pub rounds: Vec<RoundReport>,
}

impl HealthCheck {
    /// Why the invocation failed, if it did.
    pub fn failed(&self) -> Option<&str> {
        self.rounds.iter().find_map(|r| match &r.result {
            RoundResult::Failed(error) => Some(error.as_str()),
            _ => None,
        })
    }
}

/// Probe primary in rounds paced by `rounds`, folding each into `controller`'s state.
pub async fn run_rounds<St, Sw, N, D, P>(
    controller: &Controller<'_, St, Sw, N, D>,
    prober: &P,
    rounds: Rounds,
    clock: &impl Clock,
) -> HealthCheck
where
    St: StateStore + Sync,
    Sw: TrafficSwitch + Sync,
    N: Notifier + Sync,
    D: DatabaseRecovery + DatabaseFailback + Sync,
    P: Prober + Sync,
{
    let mut report = HealthCheck::default();
    for n in 0..rounds.per_invocation {
        if n > 0 {
            // Leave time for one more round and a runbook step after it.
            let left = rounds.deadline.saturating_duration_since(clock.instant());
            if left < rounds.interval + STEP_ROOM {
                break;
            }
            clock.sleep(rounds.interval).await;
        }
        let round = prober.round(clock.now_ms()).await;
        let down = round.is_down(controller.settings.quorum);
        let result = match controller.round(round.clone()).await {
            Ok(outcome) => {
                log_round(&round, &outcome);
                RoundResult::Decided(Box::new(outcome))
            }
            Err(FailoverError::Fenced(version)) => {
                tracing::info!(
                    version,
                    "another decider changed the state first; it acts, this invocation stops"
                );
                RoundResult::Fenced(version)
            }
            Err(error @ FailoverError::Step { .. }) => {
                tracing::error!(%error, "runbook step failed; the next round or invocation retries it");
                RoundResult::StepFailed(error.to_string())
            }
            Err(error) => RoundResult::Failed(error.to_string()),
        };
        let stop = matches!(result, RoundResult::Fenced(_) | RoundResult::Failed(_));
        report.rounds.push(RoundReport {
            round,
            down,
            result,
        });
        if stop {
            break;
        }
    }
    report
}

fn log_round(round: &Round, outcome: &Outcome) {
    let state = &outcome.record.state;
    match &outcome.decision {
        Decision::FailOver(reason) => {
            tracing::error!(%reason, evidence = %round.summary(), "FAILING OVER to DR")
        }
        Decision::Held => {
            tracing::warn!(evidence = %round.summary(), "failover threshold reached but held by an operator")
        }
        Decision::Dwelling => {
            tracing::warn!(evidence = %round.summary(), "failover threshold reached within the dwell time of the last flip")
        }
        Decision::Stay => {
            tracing::info!(mode = %state.mode, down_streak = state.down_streak, up_streak = state.up_streak, evidence = %round.summary(), "round")
        }
    }
    for step in &outcome.steps {
        tracing::info!(?step, "runbook step done");
    }
    if let Some(runbook) = &outcome.finished {
        tracing::info!(runbook = %runbook.id, notes = ?runbook.notes, "runbook finished");
    }
}

impl FailoverRecord {
    /// Whether nothing is at stake: primary healthy and no runbook running. Only then may
    /// the switch's setup be verified, a Route 53 control-plane call that may hang with
    /// primary's region.
    pub fn calm(&self) -> bool {
        self.state.mode == Mode::Healthy && self.runbook.is_none()
    }
}

/// Verify the traffic switch's setup (alarm, health check, records) within `budget`, but
/// only while nothing is at stake: off the failover path, its calls being Route 53's
/// control plane. Returns what was done, for the logs.
pub async fn verify_switch_when_calm<St, Sw>(store: &St, switch: &Sw, budget: Duration) -> String
where
    St: StateStore + Sync,
    Sw: TrafficSwitch + Sync,
{
    let calm = match store.load().await {
        Ok(stored) => stored.is_none_or(|s| s.record.calm()),
        Err(error) => {
            return format!(
                "failover state unreadable ({error}): the switch's setup is not verified now"
            )
        }
    };
    if !calm {
        return "primary is not healthy or a runbook runs: the switch's setup is left alone"
            .to_owned();
    }
    match tokio::time::timeout(budget, switch.ensure()).await {
        Ok(Ok(())) => "traffic switch setup verified".to_owned(),
        Ok(Err(error)) => format!("the traffic switch's setup could not be verified: {error}"),
        Err(_) => format!("the traffic switch's setup was not verified within {budget:?}"),
    }
}

impl Report for HealthCheck {
    fn sections(&self) -> Vec<Section> {
        self.rounds.iter().map(round_section).collect()
    }
}

fn round_section(report: &RoundReport) -> Section {
    let outcomes = &report.round.outcomes;
    let failures = outcomes.iter().filter(|o| !o.healthy).count() as u64;
    let slowest = outcomes.iter().map(|o| o.latency_ms).max().unwrap_or(0);
    let section = Section::listed("rounds")
        .figure(Figure::flag("RoundDown", report.down))
        .figure(Figure::count("ProbeFailures", failures))
        .figure(Figure::millis("SlowestProbeMs", slowest as f64))
        .fact("down", report.down);
    match &report.result {
        RoundResult::Decided(outcome) => section
            .figure(Figure::flag(
                "FailoverDecided",
                matches!(outcome.decision, Decision::FailOver(_)),
            ))
            .figure(Figure::flag("FailoverHeld", outcome.decision == Decision::Held))
            // Primary down past the threshold and traffic left where it is, held or within
            // the dwell time: the alarm that pages for it reads this.
            .figure(Figure::flag(
                "FailoverSuppressed",
                matches!(outcome.decision, Decision::Held | Decision::Dwelling),
            ))
            .figure(Figure::flag(
                "FailedOver",
                outcome.record.state.serving() == Side::Dr,
            ))
            .figure(Figure::count("RunbookStepFailures", 0))
            .fact("mode", outcome.record.state.mode.to_string())
            .fact(
                "decision",
                match &outcome.decision {
                    Decision::Stay => "stay",
                    Decision::Held => "held",
                    Decision::Dwelling => "dwelling",
                    Decision::FailOver(_) => "fail-over",
                },
            )
            .fact(
                "reason",
                match &outcome.decision {
                    Decision::FailOver(reason) => Some(reason.as_str()),
                    _ => None,
                },
            )
            .fact(
                "steps",
                outcome
                    .steps
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>(),
            )
            .fact(
                "runbook_pending",
                outcome.record.runbook.as_ref().map(|r| r.id.clone()),
            )
            .fact(
                "finished",
                outcome.finished.as_ref().map(|r| {
                    serde_json::json!({"kind": format!("{:?}", r.kind), "notes": r.notes_line()})
                }),
            ),
        RoundResult::Fenced(version) => section
            .figure(Figure::count("RunbookStepFailures", 0))
            .fact("fenced_at_version", version),
        RoundResult::StepFailed(error) => section
            .figure(Figure::count("RunbookStepFailures", 1))
            .fact("error", error),
        RoundResult::Failed(error) => section
            .figure(Figure::count("RunbookStepFailures", 0))
            .fact("error", error),
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
