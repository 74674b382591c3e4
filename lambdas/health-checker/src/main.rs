//! health-checker (DR, scheduled every minute): probes primary in several rounds per
//! invocation, folds each round into the persisted failover state (hysteresis, quorum,
//! dwell, operator hold), and when the decision is to fail over runs the runbook: flip
//! traffic, notify operators, start the database restore from DR's own copies, write the
//! audit record. Every call on that path is in the DR region's data plane; nothing waits on
//! primary's region or Route 53's control plane, cold start included. A runbook cut short
//! is continued by the next invocation. Every state change is a conditional write on the
//! state's version, so overlapping invocations never both act.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use dr_aws::failover::FailoverPorts;
use dr_aws::metrics::MetricLine;
use dr_aws::probes::{run_round, Probe};
use dr_aws::{runtime, AwsSession};
use dr_core::failover::{Decision, FailoverError, Outcome, StateStore, TrafficSwitch};
use dr_core::Topology;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

struct Deps {
    session: AwsSession,
    topology: Topology,
    probes: Vec<Arc<Probe>>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("health-checker configuration")?;
    if topology.failover.probes.is_empty() {
        return Err(
            "failover.probes is empty: configure at least one probe of primary (a \
                    checker with no probes would see every round as down)"
                .into(),
        );
    }
    let session = AwsSession::connect(&topology, "health-checker").await;
    let probes = Probe::all(&topology, &session)?
        .into_iter()
        .map(Arc::new)
        .collect();
    let deps = Deps {
        session,
        topology,
        probes,
    };
    // Verify the switch's setup (alarm, health check, records) off the failover path: in
    // the background, never before a round, and only while primary is healthy and no
    // runbook runs. Its calls are Route 53's control plane, which lives in us-east-1 and
    // may be down with primary's region; the deploy made the setup, this only repairs drift.
    tokio::spawn(verify_switch_setup(
        deps.session.clone(),
        deps.topology.clone(),
    ));
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

/// The switch's setup, verified when nothing is at stake; a failure is logged, not fatal.
async fn verify_switch_setup(session: AwsSession, topology: Topology) {
    let ports = FailoverPorts::new(&session, &topology);
    let calm = match ports.store.load().await {
        Ok(stored) => stored.is_none_or(|s| {
            s.record.state.mode == dr_core::failover::Mode::Healthy && s.record.runbook.is_none()
        }),
        Err(error) => {
            tracing::warn!(%error, "failover state unreadable: the switch's setup is not verified now");
            false
        }
    };
    if !calm {
        tracing::info!("primary is not healthy: the switch's setup is left alone this time");
        return;
    }
    let budget = Duration::from_secs(30);
    match tokio::time::timeout(budget, ports.switch.ensure()).await {
        Ok(Ok(())) => tracing::info!("traffic switch setup verified"),
        Ok(Err(error)) => {
            tracing::error!(%error, "the traffic switch's setup could not be verified")
        }
        Err(_) => tracing::error!("the traffic switch's setup was not verified within 30 s"),
    }
}

async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let deadline = runtime::invocation_deadline(event.context.deadline, Duration::from_secs(60));
    let ports = FailoverPorts::new(&deps.session, &deps.topology);
    let controller = ports.controller();
    let interval = Duration::from_secs(deps.topology.failover.round_interval_seconds);
    let mut rounds = Vec::new();
    for n in 0..deps.topology.failover.rounds_per_invocation {
        if n > 0 {
            // Leave time for one more round and a runbook step after it.
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            if left < interval + Duration::from_secs(15) {
                break;
            }
            tokio::time::sleep(interval).await;
        }
        let round = run_round(&deps.probes, dr_core::time::now_millis()).await;
        let down = round.is_down(controller.settings.quorum);
        let failures = round.outcomes.iter().filter(|o| !o.healthy).count() as u64;
        let slowest = round
            .outcomes
            .iter()
            .map(|o| o.latency_ms)
            .max()
            .unwrap_or(0);
        let result = controller.round(round.clone()).await;
        let metrics = MetricLine::for_function("health-checker")
            .count("RoundDown", u64::from(down))
            .count("ProbeFailures", failures)
            .millis("SlowestProbeMs", slowest as f64);
        match result {
            Ok(outcome) => {
                metrics
                    .count(
                        "FailoverDecided",
                        u64::from(matches!(outcome.decision, Decision::FailOver(_))),
                    )
                    .count(
                        "FailoverHeld",
                        u64::from(outcome.decision == Decision::Held),
                    )
                    .count(
                        "FailedOver",
                        u64::from(outcome.record.state.serving() == dr_core::Side::Dr),
                    )
                    .count("RunbookStepFailures", 0)
                    .emit();
                log_round(&round, &outcome);
                rounds.push(summary(&outcome, down));
            }
            Err(FailoverError::Fenced(version)) => {
                metrics.count("RunbookStepFailures", 0).emit();
                tracing::info!(
                    version,
                    "another decider changed the state first; it acts, this invocation stops"
                );
                break;
            }
            Err(error @ FailoverError::Step { .. }) => {
                metrics.count("RunbookStepFailures", 1).emit();
                tracing::error!(%error, "runbook step failed; the next round or invocation retries it");
                rounds.push(json!({"down": down, "error": error.to_string()}));
            }
            Err(error) => {
                metrics.count("RunbookStepFailures", 0).emit();
                return Err(error.into());
            }
        }
    }
    Ok(json!({ "rounds": rounds }))
}

fn log_round(round: &dr_core::failover::Round, outcome: &Outcome) {
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

fn summary(outcome: &Outcome, down: bool) -> Value {
    json!({
        "down": down,
        "mode": outcome.record.state.mode.to_string(),
        "decision": match &outcome.decision {
            Decision::Stay => "stay",
            Decision::Held => "held",
            Decision::Dwelling => "dwelling",
            Decision::FailOver(_) => "fail-over",
        },
        "reason": match &outcome.decision {
            Decision::FailOver(reason) => Some(reason.as_str()),
            _ => None,
        },
        "steps": outcome.steps.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(),
        "runbook_pending": outcome.record.runbook.as_ref().map(|r| r.id.clone()),
        "finished": outcome.finished.as_ref().map(|r| json!({
            "kind": format!("{:?}", r.kind),
            "notes": r.notes_line(),
        })),
    })
}
